//! Exact emulation of x86-64 `long double` (x87 80-bit extended: 64-bit mantissa,
//! 15-bit exponent) for INCRBYFLOAT: glibc `strtold` under Redis's `string2ld` rules,
//! round-to-nearest-even addition, and `%.17Lf` with Redis's human-friendly trimming.
//! It must never panic on any input, and allocates only in proportion to the input,
//! which is bounded (5 KiB) before any work is done; huge exponents are classified early.

use std::cmp::Ordering;

/// Redis's `MAX_LONG_DOUBLE_CHARS`: inputs of this length or longer are rejected.
pub const MAX_LEN: usize = 5 * 1024;

/// Exponent of the least significant mantissa bit of denormals (and of the smallest
/// normal): the smallest positive value is 2^-16445.
const EXP_MIN: i32 = -16445;
/// Largest exponent: the largest finite value is (2^64 - 1) * 2^16320.
const EXP_MAX: i32 = 16320;
/// Decimal exponents bounding the finite range: 10^4933 exceeds the largest finite
/// value; anything below 10^-4951 is below half the smallest denormal (2^-16446).
const DEC_OVERFLOW: i64 = 4933;
const DEC_UNDERFLOW: i64 = -4951;
/// Exponents are read saturating at this magnitude: far beyond any that matters.
const EXP_CAP: i64 = 1_000_000_000_000;
/// Quotient bits produced by the division: the quotient is arranged to be < 2^67.
const QBITS: u32 = 68;

/// An x87 extended-precision value: `(-1)^neg * mantissa * 2^exp`, always finite.
///
/// Canonical form: zero has `mantissa == 0` and `exp == 0` (either sign); otherwise
/// `EXP_MIN <= exp <= EXP_MAX` and, unless `exp == EXP_MIN` (denormals), the
/// mantissa's top bit is set. Equal values therefore have equal representations
/// (apart from the sign of zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct F80 {
    neg: bool,
    mantissa: u64,
    exp: i32,
}

/// What `strtold` made of an input that Redis's `string2ld` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    Finite(F80),
    /// "inf" / "infinity" (any case, optional sign). Redis accepts it as an operand;
    /// INCRBYFLOAT then fails with "increment would produce NaN or Infinity".
    Infinite { neg: bool },
}

/// The sum overflowed to infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow;

/// Why INCRBYFLOAT fails, in Redis's order of checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncrError {
    /// "ERR value is not a valid float"
    NotAFloat,
    /// "ERR increment would produce NaN or Infinity"
    NanOrInfinity,
}

/// Redis 7.0 INCRBYFLOAT arithmetic: `current` is the stored string (`None` when the
/// key is missing, read as 0), `incr` the argument. Returns the text Redis stores and
/// replies with.
pub fn incr_by_float(current: Option<&[u8]>, incr: &[u8]) -> Result<String, IncrError> {
    let value = match current {
        None => Parsed::Finite(F80::ZERO),
        Some(s) => parse(s).ok_or(IncrError::NotAFloat)?,
    };
    let incr = parse(incr).ok_or(IncrError::NotAFloat)?;
    match (value, incr) {
        (Parsed::Finite(a), Parsed::Finite(b)) => a
            .add(b)
            .map(|sum| sum.format_human())
            .map_err(|Overflow| IncrError::NanOrInfinity),
        _ => Err(IncrError::NanOrInfinity),
    }
}

/// Why a nonzero exact value has no finite nonzero `F80`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Range {
    Overflow,
    Underflow,
}

impl F80 {
    pub const ZERO: F80 = F80 {
        neg: false,
        mantissa: 0,
        exp: 0,
    };

    /// The exact value of an integer (every i64 fits in 64 mantissa bits).
    pub fn from_i64(v: i64) -> F80 {
        round(v < 0, u128::from(v.unsigned_abs()), false, 0, Denormals::Exact).unwrap_or(F80::ZERO)
    }

    /// `(sign, mantissa, exponent)`: the value is `(-1)^sign * mantissa * 2^exponent`.
    pub fn parts(&self) -> (bool, u64, i32) {
        (self.neg, self.mantissa, self.exp)
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// x87 `fadd` in 64-bit precision, round-to-nearest-even. `Err` when the sum
    /// rounds to infinity.
    pub fn add(self, other: F80) -> Result<F80, Overflow> {
        if self.mantissa == 0 {
            if other.mantissa == 0 {
                // -0 + -0 = -0; any other mix of zeros is +0.
                return Ok(F80 {
                    neg: self.neg && other.neg,
                    ..F80::ZERO
                });
            }
            return Ok(other);
        }
        if other.mantissa == 0 {
            return Ok(self);
        }
        let (hi, lo) = if self.exp >= other.exp {
            (self, other)
        } else {
            (other, self)
        };
        // Work in units of 2^(hi.exp - GUARD): hi is exact and < 2^126, so sums fit.
        const GUARD: i64 = 62;
        let diff = i64::from(hi.exp) - i64::from(lo.exp);
        let h = u128::from(hi.mantissa) << GUARD;
        let base = i64::from(hi.exp) - GUARD;
        let lo_m = u128::from(lo.mantissa);
        // l + delta is lo in those units, 0 <= delta < 1, sticky == (delta > 0).
        let (l, sticky) = if diff <= GUARD {
            // Shift by 0..=62 of a value < 2^64: exact, < 2^126.
            (lo_m << (GUARD - diff), false)
        } else {
            let sh = u32::try_from(diff - GUARD).unwrap_or(u32::MAX);
            let kept = lo_m.checked_shr(sh).unwrap_or(0);
            (kept, kept.checked_shl(sh).unwrap_or(0) != lo_m)
        };
        // With sticky set, diff > GUARD, so hi is normal: h >= 2^125 > 2^64 > l, and the
        // result has at least 124 exact bits above the sticky position: the 64 kept
        // bits and the rounding bit are exact, delta only breaks ties.
        let result = if hi.neg == lo.neg {
            round(hi.neg, h + l, sticky, base, Denormals::Exact)
        } else if sticky {
            // h - (l + delta) = (h - l - 1) + (1 - delta), 0 < 1 - delta < 1.
            round(hi.neg, h - l - 1, true, base, Denormals::Exact)
        } else {
            match h.cmp(&l) {
                Ordering::Greater => round(hi.neg, h - l, false, base, Denormals::Exact),
                Ordering::Less => round(lo.neg, l - h, false, base, Denormals::Exact),
                // x - x = +0 when rounding to nearest.
                Ordering::Equal => Ok(F80::ZERO),
            }
        };
        match result {
            Ok(v) => Ok(v),
            Err(Range::Overflow) => Err(Overflow),
            // Sums of multiples of 2^-16445 are exact there: cannot happen, but a
            // zero is the rounded value if it did.
            Err(Range::Underflow) => Ok(F80 {
                neg: hi.neg,
                ..F80::ZERO
            }),
        }
    }

    /// glibc `snprintf("%.17Lf")` (exact value rounded half-to-even to 17 fraction
    /// digits), then Redis's `ld2string(LD_STR_HUMAN)`: trailing zeros after the point
    /// and a trailing point removed, "-0" turned into "0".
    pub fn format_human(&self) -> String {
        const FRAC_DIGITS: usize = 17;
        const SCALE: u128 = 100_000_000_000_000_000; // 10^17 < 2^57
        let mut out = String::new();
        if self.neg {
            out.push('-');
        }
        if self.mantissa == 0 {
            out.push('0');
        } else if self.exp >= 0 {
            // An integer (up to 2^16384): the fraction digits are all zero.
            let mut big = Big::from_u64(self.mantissa);
            big.shl(u64::from(self.exp.unsigned_abs()));
            out.push_str(&big.to_decimal());
        } else {
            let s = self.exp.unsigned_abs(); // 1..=16445
            let m = u128::from(self.mantissa);
            let (mut int, frac) = if s >= 64 {
                (0u128, m)
            } else {
                (m >> s, m & ((1u128 << s) - 1))
            };
            // frac < 2^64, so prod < 2^121: no overflow.
            let prod = frac * SCALE;
            let (mut q, up) = if s >= 128 {
                // prod < 2^121 < 2^127 <= half a unit of the last digit: rounds down.
                (0u128, false)
            } else {
                let q = prod >> s;
                let r = prod & ((1u128 << s) - 1);
                let half = 1u128 << (s - 1);
                (q, r > half || (r == half && q & 1 == 1))
            };
            if up {
                q += 1;
            }
            if q == SCALE {
                q = 0;
                int += 1;
            }
            out.push_str(&int.to_string());
            if q != 0 {
                let digits = format!("{q:0FRAC_DIGITS$}");
                out.push('.');
                out.push_str(digits.trim_end_matches('0'));
            }
        }
        if out == "-0" {
            out = "0".to_string();
        }
        out
    }
}

/// How to round into the denormal range.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Denormals {
    /// Correctly (the x87 adder).
    Exact,
    /// As glibc 2.36's `strtold` (`round_and_return`): when the result is denormal, the
    /// first bit below the 64 significant bits (its "round bit") is dropped before
    /// rounding at the denormal position, so a value whose only bit below the new
    /// halfway point is that one reads as an exact tie. glibc 2.38 fixed this (bug
    /// 30220, `old_half_bit`); Debian 12's Redis runs 2.36. Only hex input can hit it:
    /// such a value needs over 11,000 significant decimal digits.
    Glibc236,
}

/// Rounds the exact value `(q + delta) * 2^e2` (`0 <= delta < 1`, `delta > 0` iff
/// `sticky`) to the nearest `F80`, ties to even, with x87 denormals. `q == 0` is taken
/// as an exact zero. For `Glibc236`, `q` must hold at least 65 significant bits or
/// be the whole value (`!sticky`).
fn round(neg: bool, q: u128, sticky: bool, e2: i64, mode: Denormals) -> Result<F80, Range> {
    if q == 0 {
        return Ok(F80 {
            neg,
            ..F80::ZERO
        });
    }
    let len = i64::from(128 - q.leading_zeros()); // 1..=128
    // Exponent of the result's last mantissa bit.
    let mut e = (e2 + len - 64).max(i64::from(EXP_MIN));
    let drop = e - e2;
    let mut mant: u128 = if drop <= 0 {
        // e >= e2 + len - 64, so q << -drop has at most 64 bits: exact.
        let sh = u32::try_from(-drop).unwrap_or(u32::MAX);
        q.checked_shl(sh).unwrap_or(0)
    } else {
        let d = u32::try_from(drop).unwrap_or(u32::MAX);
        let mant = q.checked_shr(d).unwrap_or(0);
        let mut rem = if d >= 128 {
            q
        } else {
            q & ((1u128 << d) - 1)
        };
        // Denormal (the exponent was clamped): glibc 2.36 loses the 65th bit.
        if mode == Denormals::Glibc236 && drop > len - 64 && len >= 65 {
            rem &= !(1u128 << (len - 65));
        }
        let up = match d.checked_sub(1).and_then(|h| 1u128.checked_shl(h)) {
            // d > 128: the whole value is below half a unit.
            None => false,
            Some(half) => rem > half || (rem == half && (sticky || mant & 1 == 1)),
        };
        mant + u128::from(up)
    };
    if mant == 1u128 << 64 {
        mant = 1u128 << 63;
        e += 1;
    }
    if mant == 0 {
        return Err(Range::Underflow);
    }
    if e > i64::from(EXP_MAX) {
        return Err(Range::Overflow);
    }
    let mantissa = u64::try_from(mant).map_err(|_| Range::Overflow)?;
    let exp = i32::try_from(e).map_err(|_| Range::Overflow)?;
    Ok(F80 { neg, mantissa, exp })
}

/// C `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Redis 7.0 `string2ld` over glibc `strtold`: `None` when Redis answers "value is
/// not a valid float" (empty, too long, leading space, trailing garbage, NaN,
/// overflow to infinity, nonzero underflowing to zero).
///
/// As in Redis, the bytes are copied into a C string: parsing stops at the first NUL
/// byte, and an input starting with NUL reads as 0.
pub fn parse(s: &[u8]) -> Option<Parsed> {
    if s.is_empty() || s.len() >= MAX_LEN {
        return None;
    }
    if s.first().copied().is_some_and(is_c_space) {
        return None;
    }
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    let s = s.get(..end)?;
    if s.is_empty() {
        // strtold("") converts nothing, returns 0 and points at the NUL: accepted.
        return Some(Parsed::Finite(F80::ZERO));
    }
    let (neg, rest) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(Parsed::Infinite { neg });
    }
    let result = match rest {
        [b'0', b'x' | b'X', hex @ ..] => parse_hex(neg, hex)?,
        _ => parse_decimal(neg, rest)?,
    };
    // Out of range: ERANGE with HUGE_VAL or with 0, both rejected by string2ld.
    result.ok().map(Parsed::Finite)
}

/// Splits `s` into a leading run of bytes satisfying `f` and the rest.
fn take_while(s: &[u8], f: impl Fn(u8) -> bool) -> (&[u8], &[u8]) {
    let n = s.iter().position(|&b| !f(b)).unwrap_or(s.len());
    s.split_at(n)
}

/// The optional exponent suffix after the mantissa: `marker [+-] digits`, reading the
/// whole of `s`. Saturates at `EXP_CAP`. `None` unless `s` is empty or such a suffix.
fn parse_exponent(s: &[u8], marker: u8) -> Option<i64> {
    let Some((&first, rest)) = s.split_first() else {
        return Some(0);
    };
    if first.to_ascii_lowercase() != marker {
        return None;
    }
    let (neg, digits) = match rest.split_first() {
        Some((b'-', d)) => (true, d),
        Some((b'+', d)) => (false, d),
        _ => (false, rest),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        v = (v * 10 + i64::from(d - b'0')).min(EXP_CAP);
    }
    Some(if neg { -v } else { v })
}

/// `[digits][.digits][e[+-]digits]` with at least one mantissa digit, all of `s`.
fn parse_decimal(neg: bool, s: &[u8]) -> Option<Result<F80, Range>> {
    let (int, rest) = take_while(s, |b| b.is_ascii_digit());
    let (frac, rest) = match rest.split_first() {
        Some((b'.', after)) => take_while(after, |b| b.is_ascii_digit()),
        _ => (&rest[..0], rest),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let exp = parse_exponent(rest, b'e')?;
    // value = digits * 10^e10 over the significant digits only.
    let mut digits: Vec<u8> = int.iter().chain(frac).copied().collect();
    let mut e10 = exp - i64::try_from(frac.len()).ok()?;
    while digits.last() == Some(&b'0') {
        digits.pop();
        e10 += 1;
    }
    let lead = digits.iter().take_while(|&&b| b == b'0').count();
    let digits = digits.get(lead..)?;
    if digits.is_empty() {
        return Some(Ok(F80 {
            neg,
            ..F80::ZERO
        }));
    }
    Some(decimal_to_f80(neg, digits, e10))
}

/// Correctly rounds `digits * 10^e10` (`digits`: ASCII, no leading or trailing zeros,
/// not empty, at most `MAX_LEN` of them).
fn decimal_to_f80(neg: bool, digits: &[u8], e10: i64) -> Result<F80, Range> {
    let nd = i64::try_from(digits.len()).map_err(|_| Range::Overflow)?;
    // 10^(nd-1+e10) <= value < 10^(nd+e10).
    if nd - 1 + e10 >= DEC_OVERFLOW {
        return Err(Range::Overflow);
    }
    if nd + e10 <= DEC_UNDERFLOW {
        return Err(Range::Underflow);
    }
    // Now |e10| < DEC_OVERFLOW + MAX_LEN - DEC_UNDERFLOW: the numbers below stay
    // under ~34,000 bits.
    let mut n = Big::from_decimal(digits);
    if e10 >= 0 && nd <= 19 {
        if let Some(v) = u64::try_from(e10)
            .ok()
            .and_then(|e| u32::try_from(e).ok())
            .and_then(|e| 10u64.checked_pow(e))
            .and_then(|p| n.to_u64().and_then(|n| n.checked_mul(p)))
        {
            return round(neg, u128::from(v), false, 0, Denormals::Glibc236);
        }
    }
    let mut m = Big::from_u64(1);
    let pow = u32::try_from(e10.unsigned_abs()).map_err(|_| Range::Overflow)?;
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
    round(neg, q, sticky, -s, Denormals::Glibc236)
}

/// `[hexdigits][.hexdigits][p[+-]digits]` after "0x", with at least one hex digit,
/// all of `s`.
fn parse_hex(neg: bool, s: &[u8]) -> Option<Result<F80, Range>> {
    let (int, rest) = take_while(s, |b| b.is_ascii_hexdigit());
    let (frac, rest) = match rest.split_first() {
        Some((b'.', after)) => take_while(after, |b| b.is_ascii_hexdigit()),
        _ => (&rest[..0], rest),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let exp = parse_exponent(rest, b'p')?;
    let e2 = exp - 4 * i64::try_from(frac.len()).ok()?;
    let h = Big::from_hex(int.iter().chain(frac).copied());
    if h.is_zero() {
        return Some(Ok(F80 {
            neg,
            ..F80::ZERO
        }));
    }
    let bl = i64::from(h.bit_len());
    // 2^(bl-1+e2) <= value < 2^(bl+e2); the largest finite is below 2^16384 and half
    // the smallest denormal is 2^-16446.
    if bl - 1 + e2 >= 16384 {
        return Some(Err(Range::Overflow));
    }
    if bl + e2 <= -16446 {
        return Some(Err(Range::Underflow));
    }
    let shift = (bl - i64::from(QBITS)).max(0);
    let (q, sticky) = h.top_bits(shift.unsigned_abs());
    Some(round(neg, q, sticky, e2 + shift, Denormals::Glibc236))
}

/// `floor(num / den)` and whether the remainder is nonzero, given
/// `num < den * 2^QBITS` (so the quotient fits in `QBITS` bits) and `den != 0`.
fn div_quotient(mut num: Big, den: &Big) -> (u128, bool) {
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
struct Big {
    limbs: Vec<u32>,
}

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big {
            limbs: vec![v as u32, (v >> 32) as u32],
        };
        b.trim();
        b
    }

    /// ASCII decimal digits, nine at a time.
    fn from_decimal(digits: &[u8]) -> Big {
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
    fn from_hex(digits: impl DoubleEndedIterator<Item = u8>) -> Big {
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

    fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    fn to_u64(&self) -> Option<u64> {
        match self.limbs.as_slice() {
            [] => Some(0),
            [a] => Some(u64::from(*a)),
            [a, b] => Some(u64::from(*a) | (u64::from(*b) << 32)),
            _ => None,
        }
    }

    fn bit_len(&self) -> u32 {
        match self.limbs.last() {
            None => 0,
            Some(&top) => {
                let below = u32::try_from(self.limbs.len() - 1).unwrap_or(u32::MAX / 64);
                below.saturating_mul(32).saturating_add(32 - top.leading_zeros())
            }
        }
    }

    fn mul_small(&mut self, m: u32) {
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

    fn add_small(&mut self, a: u32) {
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

    fn mul_pow10(&mut self, mut n: u32) {
        while n >= 9 {
            self.mul_small(1_000_000_000);
            n -= 9;
        }
        // n < 9 here.
        self.mul_small(10u32.pow(n));
    }

    fn shl(&mut self, bits: u64) {
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
            self.limbs.splice(0..0, std::iter::repeat(0).take(whole));
        }
    }

    fn shr1(&mut self) {
        let mut carry = 0u32;
        for l in self.limbs.iter_mut().rev() {
            let v = *l;
            *l = (v >> 1) | (carry << 31);
            carry = v & 1;
        }
        self.trim();
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }

    /// `self -= other`; callers ensure `self >= other`.
    fn sub_assign(&mut self, other: &Big) {
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
    fn top_bits(&self, shift: u64) -> (u128, bool) {
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
    fn divmod_small(&mut self, d: u32) -> u32 {
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

    fn to_decimal(&self) -> String {
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
