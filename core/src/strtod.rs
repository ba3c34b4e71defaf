//! glibc 2.36 `strtod` over bytes, exactly as the Redis 7.0 on Debian 12 sees it: the
//! text it reads, the double it returns (with glibc's own subnormal rounding) and when
//! it sets ERANGE. Every float argument Redis reads with `strtod` comes through here.
//! Never panics; big-number work is bounded (~1,100 digits) whatever the input length.

use crate::bignum::decimal_quotient;

/// What `strtod` returns and leaves in `endptr` and `errno`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Strtod {
    pub value: f64,
    /// Bytes read (`endptr - nptr`); 0 when no number starts the text.
    pub consumed: usize,
    /// `errno == ERANGE`: an overflow, or an inexact result in the subnormal range.
    pub erange: bool,
}

/// No number: strtod returns 0 and points `endptr` back at the start.
const NO_NUMBER: Strtod = Strtod {
    value: 0.0,
    consumed: 0,
    erange: false,
};

/// Exponent digits are read saturating here: far past any exponent that matters, and
/// small enough that adding digit counts (bounded by memory) cannot overflow an i64.
const EXP_CAP: i64 = 1 << 52;

/// glibc reads at most this many decimal places of a value below 1: `MANT_DIG -
/// MIN_EXP + 2`, a quarter ulp of the smallest subnormal. Later digits only say
/// "more bits follow" (see `decimal_slow`).
const MAX_FRAC_DIGITS: i64 = 1076;

/// C `isspace` in the "C" locale.
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Redis's `string2d` / `getDoubleFromObject` (ZADD scores, ZINCRBY increments,
/// WEIGHTS, double configs): the whole text is one number, no leading space, not NaN,
/// and not out of range to ±inf or to zero. ERANGE with a subnormal result passes.
pub fn string2d(s: &[u8]) -> Option<f64> {
    match s.first() {
        None => return None,
        Some(&b) if is_c_space(b) => return None,
        Some(_) => {}
    }
    let r = strtod(s);
    let out_of_range = r.erange && (r.value.is_infinite() || r.value == 0.0);
    (r.consumed == s.len() && !r.value.is_nan() && !out_of_range).then_some(r.value)
}

/// glibc's `strtod` in the "C" locale. A NUL byte ends the text as it ends a C string:
/// nothing in the grammar matches it.
pub fn strtod(s: &[u8]) -> Strtod {
    let spaces = s.iter().take_while(|&&b| is_c_space(b)).count();
    let unspaced = s.get(spaces..).unwrap_or_default();
    let (neg, body) = match unspaced.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, unspaced),
    };
    // Where `body` starts in `s`.
    let at = s.len() - body.len();
    let signed = |v: f64| if neg { -v } else { v };
    let (value, used, erange) = match body {
        [b'0', b'x' | b'X', hex @ ..] => hex_number(hex),
        [b'0'..=b'9', ..] | [b'.', b'0'..=b'9', ..] => decimal_number(body),
        _ => match special(body) {
            Some((value, used)) => (value, used, false),
            None => return NO_NUMBER,
        },
    };
    Strtod {
        value: signed(value),
        consumed: at + used,
        erange,
    }
}

/// `inf`, `infinity`, or `nan` with an optional `(n-char-sequence)`, in any case:
/// (value, bytes read).
fn special(body: &[u8]) -> Option<(f64, usize)> {
    if starts_with_ignore_case(body, b"inf") {
        let rest = body.get(3..).unwrap_or_default();
        let used = if starts_with_ignore_case(rest, b"inity") {
            8
        } else {
            3
        };
        return Some((f64::INFINITY, used));
    }
    if starts_with_ignore_case(body, b"nan") {
        let rest = body.get(3..).unwrap_or_default();
        // glibc's `strtod_nan` takes [0-9A-Za-z_]* and needs the closing parenthesis,
        // else only "nan" is read.
        let used = match rest.split_first() {
            Some((b'(', inner)) => {
                let n = inner
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                if inner.get(n) == Some(&b')') {
                    3 + 1 + n + 1
                } else {
                    3
                }
            }
            _ => 3,
        };
        return Some((f64::NAN, used));
    }
    None
}

fn starts_with_ignore_case(s: &[u8], word: &[u8]) -> bool {
    s.get(..word.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(word))
}

/// The digits strtod reads: integer digits (leading zeros included), an optional
/// point and fraction digits, and an exponent suffix read only when it has digits.
struct Scan<'a> {
    int: &'a [u8],
    frac: &'a [u8],
    /// Bytes of digits and point.
    mantissa_len: usize,
    /// The exponent's value (saturated at ±EXP_CAP), 0 when none was read.
    exp: i64,
    /// Bytes of the exponent suffix, 0 when none was read.
    exp_len: usize,
}

impl Scan<'_> {
    fn len(&self) -> usize {
        self.mantissa_len + self.exp_len
    }
}

fn scan(s: &[u8], hex: bool) -> Scan<'_> {
    let is_digit = |b: &u8| {
        if hex {
            b.is_ascii_hexdigit()
        } else {
            b.is_ascii_digit()
        }
    };
    let int_len = s.iter().take_while(|b| is_digit(b)).count();
    let (int, rest) = s.split_at_checked(int_len).unwrap_or((s, &[]));
    let (frac, mantissa_len) = match rest.split_first() {
        Some((b'.', after)) => {
            let n = after.iter().take_while(|b| is_digit(b)).count();
            (after.get(..n).unwrap_or_default(), int_len + 1 + n)
        }
        _ => (&[][..], int_len),
    };
    let marker = if hex { b'p' } else { b'e' };
    let tail = s.get(mantissa_len..).unwrap_or_default();
    let (exp, exp_len) = match tail.split_first() {
        Some((&m, after)) if m.to_ascii_lowercase() == marker => {
            let (neg, digits, sign_len) = match after.split_first() {
                Some((b'-', d)) => (true, d, 1),
                Some((b'+', d)) => (false, d, 1),
                _ => (false, after, 0),
            };
            let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
            // glibc reads every exponent digit, however many: the value saturates.
            let v = digits.iter().take(n).fold(0i64, |v, &d| {
                v.saturating_mul(10)
                    .saturating_add(i64::from(d.wrapping_sub(b'0')))
                    .min(EXP_CAP)
            });
            if n == 0 {
                (0, 0)
            } else {
                (if neg { -v } else { v }, 1 + sign_len + n)
            }
        }
        _ => (0, 0),
    };
    Scan {
        int,
        frac,
        mantissa_len,
        exp,
        exp_len,
    }
}

fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A hex float after its "0x": (magnitude, bytes read counting the "0x", ERANGE).
fn hex_number(s: &[u8]) -> (f64, usize, bool) {
    let zeros = s.iter().take_while(|&&b| b == b'0').count();
    let after_zeros = s.get(zeros..).unwrap_or_default();
    // glibc's test for a number after the prefix: a digit, or a point followed by a
    // digit (or after zeros), or an exponent marker after zeros.
    let present = match after_zeros {
        [c, ..] if c.is_ascii_hexdigit() => true,
        [b'.', next, ..] if next.is_ascii_hexdigit() => true,
        [b'.' | b'p' | b'P', ..] => zeros > 0,
        _ => false,
    };
    if !present {
        // Zero; endptr after the zeros, or on the 'x' when there were none.
        return (0.0, if zeros == 0 { 1 } else { 2 + zeros }, false);
    }
    let sc = scan(s, true);
    let (value, erange) = hex_value(&sc);
    (value, 2 + sc.len(), erange)
}

/// The exact value of the scanned hex digits, rounded as glibc does.
fn hex_value(sc: &Scan<'_>) -> (f64, bool) {
    // The first 16 significant digits fill a u64; later ones only scale it and say
    // whether anything nonzero lies below.
    let mut m: u64 = 0;
    let mut taken = 0u32;
    let mut extra: i64 = 0;
    let mut sticky = false;
    for &b in sc.int.iter().chain(sc.frac) {
        let d = u64::from(char::from(b).to_digit(16).unwrap_or(0));
        if taken == 0 && d == 0 {
            continue;
        }
        if taken < 16 {
            m = (m << 4) | d;
            taken += 1;
        } else {
            extra = extra.saturating_add(1);
            sticky |= d != 0;
        }
    }
    if m == 0 {
        return (0.0, false);
    }
    let lz = m.leading_zeros();
    let e = sc
        .exp
        .saturating_sub(len_i64(sc.frac.len()).saturating_mul(4))
        .saturating_add(extra.saturating_mul(4))
        .saturating_sub(i64::from(lz));
    round_glibc(m << lz, sticky, e)
}

/// A decimal number (starting with a digit, or a point and a digit): (magnitude,
/// bytes read, ERANGE).
fn decimal_number(s: &[u8]) -> (f64, usize, bool) {
    let sc = scan(s, false);
    let used = sc.len();
    if sc.int.iter().chain(sc.frac).all(|&d| d == b'0') {
        // Zero is exact, whatever the exponent.
        return (0.0, used, false);
    }
    // Rust's parser is correctly rounded over this grammar, and so is glibc for every
    // result that is normal or overflows; the subnormal range needs glibc's rounding.
    let parsed = s
        .get(..used)
        .and_then(|text| std::str::from_utf8(text).ok())
        .and_then(|text| text.parse::<f64>().ok());
    match parsed {
        Some(v) if v.is_infinite() => (v, used, true),
        Some(v) if v > f64::MIN_POSITIVE => (v, used, false),
        Some(0.0) => (0.0, used, true),
        Some(_) => {
            let (v, erange) = decimal_slow(&sc);
            (v, used, erange)
        }
        // The scanned shape is one Rust accepts; were it refused, read no number
        // rather than a wrong one.
        None => (0.0, 0, false),
    }
}

/// A decimal whose correctly rounded value is at most DBL_MIN (so the number is below
/// 1), rounded as glibc 2.36 does. glibc divides out only the first `MAX_FRAC_DIGITS`
/// decimal places (fewer for larger values) and records "more bits follow" for the
/// rest, then rounds with `round_glibc`.
fn decimal_slow(sc: &Scan<'_>) -> (f64, bool) {
    let mut digits: Vec<u8> = sc
        .int
        .iter()
        .chain(sc.frac)
        .copied()
        .skip_while(|&d| d == b'0')
        .collect();
    let trailing = digits.iter().rev().take_while(|&&d| d == b'0').count();
    digits.truncate(digits.len() - trailing);
    // value = 0.DIGITS × 10^x
    let n = len_i64(digits.len());
    let x = sc
        .exp
        .saturating_sub(len_i64(sc.frac.len()))
        .saturating_add(len_i64(trailing))
        .saturating_add(n);
    // glibc's digit budget (strtod_l.c, "number is in the form .123eEXPONENT"): the
    // value is at least 2^-neg_exp_2; it reads MANT_DIG bits past that, capped.
    let neg_exp_2 = (1i64.saturating_sub(x)).saturating_mul(10) / 3 + 1;
    let keep = neg_exp_2
        .saturating_add(53)
        .min(MAX_FRAC_DIGITS)
        .saturating_add(x)
        .max(1);
    let truncated = n > keep;
    if truncated {
        digits.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
    }
    let e10 = x.saturating_sub(len_i64(digits.len()));
    let Some((q, sticky, e2)) = decimal_quotient(&digits, e10) else {
        // Out of decimal_quotient's range, so far below the subnormals: underflow.
        return (0.0, true);
    };
    // q has 66 or 67 bits: keep the top 64, the rest is sticky.
    let drop = 64u32.saturating_sub(q.leading_zeros());
    let m = u64::try_from(q >> drop).unwrap_or(u64::MAX);
    let below = q & ((1u128 << drop) - 1) != 0;
    round_glibc(m, sticky || below || truncated, e2 + i64::from(drop))
}

/// glibc 2.36's `round_and_return` for double, round to nearest: the value is
/// `m × 2^e` (m's top bit set) plus something below m's last bit when `sticky`.
/// Returns the magnitude and ERANGE.
///
/// For a subnormal result glibc 2.36 drops the bit just below the 53 it kept (its
/// first "round bit") before rounding at the subnormal position (glibc bug 30220,
/// fixed in 2.38): a value whose only bit below the new halfway point is that one
/// reads as an exact tie, and as exact for ERANGE. Redis 7.0 on Debian 12 (glibc
/// 2.36) stores 0x1.00000000000018p-1023 as 1.1125369292536007e-308, not ...008e-308.
fn round_glibc(m: u64, sticky: bool, e: i64) -> (f64, bool) {
    const MANT_MASK: u64 = (1 << 52) - 1;
    debug_assert!(m >> 63 == 1);
    // Exponent of the leading bit.
    let lead = e.saturating_add(63);
    let mant53 = m >> 11;
    let round_bit = (m >> 10) & 1 == 1;
    let below = sticky || m & 0x3ff != 0;
    if lead > 1023 {
        return (f64::INFINITY, true);
    }
    if lead >= -1022 {
        let up = round_bit && (mant53 & 1 == 1 || below);
        let (mant, lead) = match mant53 + u64::from(up) {
            carried if carried == 1 << 53 => (1 << 52, lead + 1),
            mant => (mant, lead),
        };
        if lead > 1023 {
            return (f64::INFINITY, true);
        }
        // 1 <= lead + 1023 <= 2046: a normal's biased exponent.
        let biased = u64::try_from(lead + 1023).unwrap_or(0);
        return (f64::from_bits((biased << 52) | (mant & MANT_MASK)), false);
    }
    if lead < -1075 {
        return (0.0, true);
    }
    // 1..=53 bits shifted out to land on the subnormal grid.
    let shift = u32::try_from(-1022 - lead).unwrap_or(53);
    let mut more = below; // glibc 2.36 forgets `round_bit` here.
    let mut tiny = true;
    let (half, mant) = if shift == 53 {
        more |= mant53 & MANT_MASK != 0;
        (true, 0)
    } else {
        // x86 detects tininess after rounding: a value that rounds to DBL_MIN at full
        // precision is not tiny.
        if shift == 1 && round_bit && (mant53 & 1 == 1 || below) && mant53 + 1 == 1 << 53 {
            tiny = false;
        }
        let half = (mant53 >> (shift - 1)) & 1 == 1;
        more |= mant53 & ((1 << (shift - 1)) - 1) != 0;
        (half, mant53 >> shift)
    };
    let erange = tiny && (half || more);
    let mant = mant + u64::from(half && (mant & 1 == 1 || more));
    // mant <= 2^52: a subnormal's bits, or DBL_MIN's when rounding carried into them.
    (f64::from_bits(mant), erange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(s: &str) -> (f64, usize, bool) {
        let r = strtod(s.as_bytes());
        (r.value, r.consumed, r.erange)
    }

    /// (text, value as glibc's `%a`-equal f64, bytes read, ERANGE), from a C program
    /// calling glibc 2.36's strtod on x86-64 (Debian 12).
    #[rustfmt::skip]
    const ORACLE: &[(&str, f64, usize, bool)] = &[
        ("0x", 0.0, 1, false),
        ("0x.", 0.0, 1, false),
        ("0x.p1", 0.0, 1, false),
        ("0xp1", 0.0, 1, false),
        ("0x1p", 1.0, 3, false),
        ("0x1p+", 1.0, 3, false),
        ("1e+", 1.0, 1, false),
        ("infinit", f64::INFINITY, 3, false),
        ("infinityx", f64::INFINITY, 8, false),
        (" +.5", 0.5, 4, false),
        ("+-1", 0.0, 0, false),
        ("0X1P-2", 0.25, 6, false),
        ("0x.8", 0.5, 4, false),
        ("0x8.", 8.0, 4, false),
        ("0x1.fffffffffffff8p-1023", f64::MIN_POSITIVE, 24, false),
        ("0x1.fffffffffffff7p-1023", f64::MIN_POSITIVE, 24, true),
        ("0x1.ffffffffffffe8p-1023", 2.225073858507201e-308, 24, false),
        ("0x0.00000000000008p-1022", 0.0, 24, true),
        ("0x0.000000000000081p-1022", 5e-324, 25, true),
        ("0x0.0000000000000800000000000000000000001p-1022", 5e-324, 47, true),
        ("0x1p-1075", 0.0, 9, true),
        ("0x1.8p-1075", 5e-324, 11, true),
        ("0x3p-1076", 5e-324, 9, true),
        ("0x1P1024", f64::INFINITY, 8, true),
        ("0x1.fffffffffffff8p1023", f64::INFINITY, 23, true),
        ("0x1.fffffffffffff7ffffp1023", f64::MAX, 27, false),
        ("1e-324", 0.0, 6, true),
        ("2.4703282292062327e-324", 0.0, 23, true),
        ("2.4703282292062328e-324", 5e-324, 23, true),
        ("4.9406564584124654e-324", 5e-324, 23, true),
        ("2.2250738585072011e-308", 2.225073858507201e-308, 23, true),
        ("2.2250738585072014e-308", f64::MIN_POSITIVE, 23, false),
        ("00000000000000000000000000001e-330", 0.0, 34, true),
        ("0.000e999999999999999999", 0.0, 24, false),
        ("1e99999999999999999999", f64::INFINITY, 22, true),
        ("1e-99999999999999999999", 0.0, 23, true),
        ("InFiNiTy", f64::INFINITY, 8, false),
        ("1.5e3x", 1500.0, 5, false),
        ("0x1p-1074", 5e-324, 9, false),
        ("0x1p-5000", 0.0, 9, true),
        ("0x1000000000p-1050", 5.696189077778436e-306, 18, false),
        // glibc 2.36's subnormal rounding (bug 30220): the dropped bit.
        ("0x1.00000000000008p-1075", 0.0, 24, true),
        ("0x1.00000000000008p-1023", 1.1125369292536007e-308, 24, false),
        ("0x1.00000000000018p-1023", 1.1125369292536007e-308, 24, true),
        ("0x1.0000000000000801p-1023", 1.1125369292536007e-308, 26, true),
    ];

    #[test]
    fn matches_the_glibc_oracle() {
        for &(text, value, used, erange) in ORACLE {
            let got = r(text);
            assert_eq!(
                (got.0.to_bits(), got.1, got.2),
                (value.to_bits(), used, erange),
                "{text}: got {:e}",
                got.0
            );
        }
        assert!(r("nan").0.is_nan());
        assert_eq!(r("nan(").1, 3);
        assert_eq!(r("nan(abc").1, 3);
        assert_eq!(r("nan()").1, 5);
        assert_eq!(r("NaN(a_1)").1, 8);
        assert_eq!(r("nan(-)").1, 3);
        assert_eq!(r("-nan").1, 4);
    }

    #[test]
    fn long_decimals_follow_glibc() {
        // Exact decimal expansions of (2^53 + k) × 2^e: glibc reads only 1,076 decimal
        // places, so the dropped bit matters only when it lies above 2^-1076.
        let exact = |m: u64, e: u32| -> String {
            // m × 2^-e = m × 5^e / 10^e
            let mut n = crate::bignum::Big::from_u64(m);
            for _ in 0..e {
                n.mul_small(5);
            }
            let digits = n.to_decimal();
            let e = e as usize;
            format!("0.{}{}", "0".repeat(e - digits.len()), digits)
        };
        let two53 = 1u64 << 53;
        // 775 significant digits: the dropped bit is 2^-1076, read.
        assert_eq!(r(&exact(two53 + 1, 1076)).0, 1.1125369292536007e-308);
        assert!(!r(&exact(two53 + 1, 1076)).2);
        assert!(r(&exact(two53 + 3, 1076)).2);
        // The dropped bit is 2^-1128, past glibc's 1,076 places: rounded correctly.
        let v = r(&exact(two53 + 1, 1128));
        assert_eq!((v.0, v.2), (5e-324, true));
        let v = r(&exact(two53 + 1, 1100));
        assert_eq!((v.0.to_bits(), v.2), (1 << 27, true));
    }

    #[test]
    fn string2d_as_redis() {
        assert_eq!(string2d(b"1.5"), Some(1.5));
        assert_eq!(string2d(b"1e-310").map(|v| v > 0.0), Some(true));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"1\x00",
            b"nan",
            b"1e400",
            b"1e-400",
            b"0x1p-5000",
            b"0x",
            b"1e",
        ] {
            assert_eq!(string2d(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(string2d(b"0e-400"), Some(0.0));
        assert_eq!(string2d(b"-0").map(f64::to_bits), Some((-0.0f64).to_bits()));
    }

    proptest! {
        #[test]
        fn never_panics_and_reads_within_the_text(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let r = strtod(&bytes);
            prop_assert!(r.consumed <= bytes.len());
        }

        #[test]
        fn float_shaped_text(
            s in "[ ]?[-+]?(0[xX])?[0-9a-fA-F]{0,30}[.]?[0-9a-fA-F]{0,30}([eEpP][-+]?[0-9]{0,6})?[x ]?",
        ) {
            let r = strtod(s.as_bytes());
            prop_assert!(r.consumed <= s.len());
        }

        #[test]
        fn decimal_round_trips(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assume!(v.is_finite());
            // Shortest round-trip text and a full-precision one both read back exactly.
            for text in [format!("{v:e}"), format!("{v:.30e}")] {
                let r = strtod(text.as_bytes());
                prop_assert_eq!(r.value.to_bits(), bits, "{}", text);
                prop_assert_eq!(r.consumed, text.len());
            }
        }
    }
}
