//! Exact x87 80-bit `long double` emulation for INCRBYFLOAT: glibc 2.36 `strtold` under
//! Redis 7.0's `string2ld`, round-to-nearest-even addition, `%.17Lf` + Redis's trimming.
//! Must never panic on any input; work and memory stay bounded by the 5 KiB input limit.

use std::cmp::Ordering;

use crate::bignum::{decimal_quotient, Big, QBITS};
use crate::strtod::is_c_space;

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
    Infinite {
        neg: bool,
    },
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
            .checked_add(b)
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
    #[cfg(test)]
    pub fn from_i64(v: i64) -> F80 {
        round(
            v < 0,
            u128::from(v.unsigned_abs()),
            false,
            0,
            Denormals::Exact,
        )
        .unwrap_or(F80::ZERO)
    }

    /// `(sign, mantissa, exponent)`: the value is `(-1)^sign * mantissa * 2^exponent`.
    pub fn parts(&self) -> (bool, u64, i32) {
        (self.neg, self.mantissa, self.exp)
    }

    #[cfg(test)]
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// x87 `fadd` in 64-bit precision, round-to-nearest-even. `Err` when the sum
    /// rounds to infinity.
    pub fn checked_add(self, other: F80) -> Result<F80, Overflow> {
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
            round(
                hi.neg,
                h.saturating_sub(l).saturating_sub(1),
                true,
                base,
                Denormals::Exact,
            )
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
        return Ok(F80 { neg, ..F80::ZERO });
    }
    // Significant bits of q: 1..=128.
    let len = i64::from(128 - q.leading_zeros());
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
        let mut rem = if d >= 128 { q } else { q & ((1u128 << d) - 1) };
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

/// Redis 7.0 `string2ld` over glibc `strtold`: `None` when Redis answers "value is
/// not a valid float" (empty, too long, leading space, anything `strtold` leaves
/// unread including a NUL byte, NaN, overflow to infinity, nonzero underflowing to
/// zero).
pub fn parse(s: &[u8]) -> Option<Parsed> {
    if s.is_empty() || s.len() >= MAX_LEN {
        return None;
    }
    // strtold skips leading space, string2ld refuses it. What follows must be read
    // whole: every byte below is matched against strtold's grammar.
    if s.first().copied().is_some_and(is_c_space) {
        return None;
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
        _ => (&[] as &[u8], rest),
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
        return Some(Ok(F80 { neg, ..F80::ZERO }));
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
    if e10 >= 0 && nd <= 19 {
        if let Some(v) = u64::try_from(e10)
            .ok()
            .and_then(|e| u32::try_from(e).ok())
            .and_then(|e| 10u64.checked_pow(e))
            .and_then(|p| {
                Big::from_decimal(digits)
                    .to_u64()
                    .and_then(|n| n.checked_mul(p))
            })
        {
            return round(neg, u128::from(v), false, 0, Denormals::Glibc236);
        }
    }
    // Now |e10| < DEC_OVERFLOW + MAX_LEN - DEC_UNDERFLOW, within decimal_quotient's
    // limits: None cannot happen for a nonzero digit string, read as overflow if so.
    let (q, sticky, e2) = decimal_quotient(digits, e10).ok_or(Range::Overflow)?;
    round(neg, q, sticky, e2, Denormals::Glibc236)
}

/// `[hexdigits][.hexdigits][p[+-]digits]` after "0x", with at least one hex digit,
/// all of `s`.
fn parse_hex(neg: bool, s: &[u8]) -> Option<Result<F80, Range>> {
    let (int, rest) = take_while(s, |b| b.is_ascii_hexdigit());
    let (frac, rest) = match rest.split_first() {
        Some((b'.', after)) => take_while(after, |b| b.is_ascii_hexdigit()),
        _ => (&[] as &[u8], rest),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let exp = parse_exponent(rest, b'p')?;
    let e2 = exp - 4 * i64::try_from(frac.len()).ok()?;
    let h = Big::from_hex(int.iter().chain(frac).copied());
    if h.is_zero() {
        return Some(Ok(F80 { neg, ..F80::ZERO }));
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOT_FLOAT: Result<&str, IncrError> = Err(IncrError::NotAFloat);
    const NAN_INF: Result<&str, IncrError> = Err(IncrError::NanOrInfinity);

    /// (stored value, increment, reply).
    type Row = (
        &'static [u8],
        &'static [u8],
        Result<&'static str, IncrError>,
    );
    /// (stored value, increment, reply length, first 30 bytes, last 30 bytes).
    type BigRow = (
        &'static [u8],
        &'static [u8],
        usize,
        &'static str,
        &'static str,
    );

    /// (stored value, increment, reply), generated by a C program running Redis 7.0's
    /// `string2ld` / `+=` / `ld2string(LD_STR_HUMAN)` on x86-64 glibc 2.36.
    #[rustfmt::skip]
    const ORACLE: &[Row] = &[
        (b"10.5", b"0.1", Ok("10.6")),
        (b"10.6", b"3.0e3", Ok("3010.60000000000000009")),
        (b"0.1", b"0.2", Ok("0.3")),
        (b"1.1", b"2.2", Ok("3.3")),
        (b"0.1", b"0", Ok("0.1")),
        (b"1", b"-1", Ok("0")),
        (b"-0", b"-0", Ok("0")),
        (b"-0", b"0", Ok("0")),
        (b"5.0e3", b"0", Ok("5000")),
        (b"1e20", b"0", Ok("100000000000000000000")),
        (b"1e25", b"1", Ok("10000000000000000000000000")),
        (b"18446744073709551615", b"0.5", Ok("18446744073709551616")),
        (b"18446744073709551615", b"1.5", Ok("18446744073709551616")),
        (b"9223372036854775807", b"1", Ok("9223372036854775808")),
        (b"-9223372036854775808", b"-1", Ok("-9223372036854775809")),
        (b"123456789012345678901234567890", b"0", Ok("123456789012345678899921813504")),
        // Exact ties at the 18th fraction digit: half to even.
        (b"1.000003814697265625", b"0", Ok("1.00000381469726562")),
        (b"1.000011444091796875", b"0", Ok("1.00001144409179688")),
        (b"-1.000011444091796875", b"0", Ok("-1.00001144409179688")),
        (b"1e-18", b"0", Ok("0")),
        (b"5e-18", b"0", Ok("0")),
        (b"6e-18", b"0", Ok("0.00000000000000001")),
        (b"1e-17", b"0", Ok("0.00000000000000001")),
        (b"-1.5e-17", b"0", Ok("-0.00000000000000002")),
        (b"-1e-30", b"0", Ok("0")),
        (b"-0.5", b"0.5", Ok("0")),
        (b"-5", b"2.5", Ok("-2.5")),
        (b"99999999999999999999.99999999999999999999", b"0", Ok("100000000000000000000")),
        (b"0.30000000000000000001", b"0", Ok("0.3")),
        (b"3.14159265358979323846264338327950288", b"2.71828182845904523536028747135266250", Ok("5.85987448204883847")),
        (b"-273.15", b"1e-3", Ok("-273.14899999999999999")),
        (b"1e-300", b"-1e-300", Ok("0")),
        (b"0.999999999999999999995", b"0", Ok("1")),
        (b"0.999999999999999999994", b"0", Ok("1")),
        (b"+.5e1", b"-.5E+1", Ok("0")),
        (b".5", b"5.", Ok("5.5")),
        (b"0x1p3", b"0.5", Ok("8.5")),
        (b"0x1.8p1", b"-0x.8", Ok("2.5")),
        (b"0XABC.DEFp-4", b"0", Ok("171.8044281005859375")),
        (b"0x1p-16445", b"0", Ok("0")),
        // glibc 2.36 drops the 65th bit when rounding into the denormal range.
        (b"0x1.0000000000000001p-16446", b"0", NOT_FLOAT),
        (b"0x1.00000000000000010000001p-16446", b"0", Ok("0")),
        (b"3.6451995318824746025e-4951", b"1", Ok("1")),
        (b"1.82e-4951", b"0", NOT_FLOAT),
        (b"1.83e-4951", b"0", Ok("0")),
        (b"1e-5000", b"1", NOT_FLOAT),
        (b"1e4933", b"0", NOT_FLOAT),
        (b"1.18973149535723176502e4932", b"1e4913", NAN_INF),
        (b"0e99999999999", b"1", Ok("1")),
        (b"1e-99999999999", b"1", NOT_FLOAT),
        (b"1e99999999999", b"1", NOT_FLOAT),
        (b"inf", b"1", NAN_INF),
        (b"-inf", b"inf", NAN_INF),
        (b"1", b"-Infinity", NAN_INF),
        (b"nan", b"1", NOT_FLOAT),
        (b" 1", b"1", NOT_FLOAT),
        (b"1", b"1 ", NOT_FLOAT),
        (b"0x", b"1", NOT_FLOAT),
        (b"1e", b"1", NOT_FLOAT),
        (b".", b"1", NOT_FLOAT),
        (b"", b"1", NOT_FLOAT),
        (b"1\x00", b"1", NOT_FLOAT),
        (b"1", b"+-1", NOT_FLOAT),
        (b"infinit", b"1", NOT_FLOAT),
        (b"1_000", b"1", NOT_FLOAT),
        (b"00012.50", b"-0.5e-0", Ok("12")),
    ];

    #[test]
    fn matches_the_c_oracle() {
        for &(a, b, want) in ORACLE {
            let got = incr_by_float(Some(a), b);
            assert_eq!(got.as_deref().map_err(|&e| e), want, "{:?} + {:?}", a, b);
        }
    }

    #[test]
    fn huge_results_match_the_c_oracle() {
        let cases: [BigRow; 4] = [
            (
                b"1e300",
                b"1e-300",
                301,
                "100000000000000000000899732407",
                "187386105690089424915104006144",
            ),
            (
                b"1.18973149535723176502e4932",
                b"-1e4932",
                4932,
                "189731495357231765015244903643",
                "281015517881133973020103147520",
            ),
            (
                b"1.18973149535723176502e4932",
                b"0",
                4933,
                "118973149535723176502126385303",
                "444156604419552086811989770240",
            ),
            (
                b"-0x1.fffffffffffffffep16383",
                b"0",
                4934,
                "-11897314953572317650212638530",
                "444156604419552086811989770240",
            ),
        ];
        for (a, b, len, head, tail) in cases {
            let got = incr_by_float(Some(a), b).unwrap_or_default();
            assert_eq!(got.len(), len, "{:?}", a);
            assert!(got.starts_with(head) && got.ends_with(tail), "{:?}", a);
        }
    }

    #[test]
    fn missing_key_reads_as_zero() {
        assert_eq!(incr_by_float(None, b"1.5").as_deref(), Ok("1.5"));
        assert_eq!(incr_by_float(None, b"abc"), Err(IncrError::NotAFloat));
        assert_eq!(incr_by_float(None, b"-inf"), Err(IncrError::NanOrInfinity));
    }

    #[test]
    fn parse_rejections() {
        let long_ok = vec![b'1'; MAX_LEN - 1];
        let long_bad = vec![b'1'; MAX_LEN];
        assert_eq!(parse(&long_ok), None, "10^5118 overflows");
        assert_eq!(parse(&long_bad), None);
        let zeros = vec![b'0'; MAX_LEN - 1];
        assert!(matches!(parse(&zeros), Some(Parsed::Finite(z)) if z.is_zero()));
        let mut too_long_zeros = zeros.clone();
        too_long_zeros.push(b'0');
        assert_eq!(parse(&too_long_zeros), None);
        for bad in [
            &b""[..],
            b" ",
            b" 1",
            b"\t1",
            b"\n1",
            b"\x0b1",
            b"\x0c1",
            b"\r1",
            b"1 ",
            b"1\n",
            b"-",
            b"+",
            b".",
            b"-.",
            b"e5",
            b".e5",
            b"1e",
            b"1e+",
            b"1E-",
            b"1e5.0",
            b"1.2.3",
            b"++1",
            b"--1",
            b"+-1",
            b"1,5",
            b"1_0",
            b"0x",
            b"0X",
            b"0x.",
            b"0x.p1",
            b"0xp1",
            b"0x1p",
            b"0x1p-",
            b"0x1g",
            b"0x1q",
            b"1x",
            b"nan",
            b"NaN",
            b"-nan",
            b"nan(1)",
            b"inf ",
            b"infin",
            b"infinityy",
            b"\x00",
            b"1\x00",
            b"\x001",
            b"1.5\x00junk",
            b"\xff",
            b"1\xff",
            b"1e99999999999999999999999999",
            b"-1e99999",
            b"1e-99999",
            b"0x1p16384",
            b"-0x1p99999999999",
            b"0x1p-16446",
            b"0x1p-99999999999",
            b"1.18973149535723176508e4932",
        ] {
            assert_eq!(parse(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn parse_values() {
        let finite = |s: &[u8]| match parse(s) {
            Some(Parsed::Finite(f)) => Some(f.parts()),
            _ => None,
        };
        assert_eq!(finite(b"1"), Some((false, 1 << 63, -63)));
        assert_eq!(finite(b"0.1"), Some((false, 0xcccc_cccc_cccc_cccd, -67)));
        assert_eq!(finite(b"-10.5"), Some((true, 0xa800_0000_0000_0000, -60)));
        assert_eq!(finite(b"-0"), Some((true, 0, 0)));
        assert_eq!(finite(b"0e-99999999999999999999"), Some((false, 0, 0)));
        assert_eq!(finite(b"0x0p99999999999"), Some((false, 0, 0)));
        assert_eq!(finite(b"0x1p-16445"), Some((false, 1, -16445)));
        assert_eq!(finite(b"0x1p-16382"), Some((false, 1 << 63, -16445)));
        assert_eq!(
            finite(b"1.18973149535723176502e4932"),
            Some((false, u64::MAX, 16320))
        );
        assert_eq!(parse(b"inf"), Some(Parsed::Infinite { neg: false }));
        assert_eq!(parse(b"-INFINITY"), Some(Parsed::Infinite { neg: true }));
        assert_eq!(parse(b"+Inf"), Some(Parsed::Infinite { neg: false }));
    }

    #[test]
    fn integers_and_addition_edges() {
        for v in [0, 1, -1, i64::MAX, i64::MIN, 1 << 53, -(1 << 62) + 7] {
            let f = F80::from_i64(v);
            assert_eq!(f.format_human(), v.to_string());
            assert_eq!(parse(v.to_string().as_bytes()), Some(Parsed::Finite(f)));
        }
        let max = F80 {
            neg: false,
            mantissa: u64::MAX,
            exp: EXP_MAX,
        };
        let ulp = F80 {
            neg: false,
            mantissa: 1 << 63,
            exp: EXP_MAX - 63,
        };
        let half_ulp = F80 {
            exp: EXP_MAX - 64,
            ..ulp
        };
        assert_eq!(max.checked_add(ulp), Err(Overflow));
        assert_eq!(
            max.checked_add(half_ulp),
            Err(Overflow),
            "tie rounds to even: up"
        );
        assert_eq!(
            max.checked_add(F80 {
                exp: EXP_MAX - 65,
                ..ulp
            }),
            Ok(max)
        );
        assert_eq!(max.checked_add(F80 { neg: true, ..max }), Ok(F80::ZERO));
        let tiny = F80 {
            neg: false,
            mantissa: 1,
            exp: EXP_MIN,
        };
        assert_eq!(tiny.checked_add(F80 { neg: true, ..tiny }), Ok(F80::ZERO));
        assert_eq!(
            tiny.checked_add(F80 {
                neg: false,
                mantissa: (1 << 63) - 1,
                exp: EXP_MIN
            }),
            Ok(F80 {
                neg: false,
                mantissa: 1 << 63,
                exp: EXP_MIN
            }),
        );
    }

    /// Any canonical finite value, built through the rounding routine.
    fn any_f80() -> impl Strategy<Value = F80> {
        (any::<bool>(), any::<u64>(), -16600i64..16400).prop_map(|(neg, m, e)| {
            round(neg, u128::from(m), false, e, Denormals::Exact).unwrap_or(F80::ZERO)
        })
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn float_shaped_input_never_panics(
            s in "[-+ ]?(0[xX])?[0-9a-fA-F]{0,40}[.]?[0-9a-f]{0,40}([eEpP][-+]?[0-9]{1,25})?",
        ) {
            if let Some(Parsed::Finite(f)) = parse(s.as_bytes()) {
                let _ = f.format_human();
            }
        }

        #[test]
        fn addition_laws(a in any_f80(), b in any_f80()) {
            prop_assert_eq!(a.checked_add(b), b.checked_add(a));
            prop_assert_eq!(a.checked_add(F80::ZERO).map(|s| s.parts().1), Ok(a.parts().1));
            let neg_a = F80 { neg: !a.neg, ..a };
            prop_assert_eq!(a.checked_add(neg_a).map(|s| s.is_zero()), Ok(true));
            if let Ok(sum) = a.checked_add(b) {
                let (_, m, e) = sum.parts();
                prop_assert!(m == 0 || (EXP_MIN..=EXP_MAX).contains(&e));
                prop_assert!(m == 0 || e == EXP_MIN || m >> 63 == 1);
                let text = sum.format_human();
                prop_assert!(text != "-0" && !text.ends_with('.'));
            }
        }
    }
}
