//! Scores and ranges as Redis 7.0 prints, reads and orders them: `%.17g` text, the
//! listpack's integer-or-`%.17g` text, strtod parsing, score and lex ranges, and the
//! total (score, member) order both encodings keep. Pure functions; no storage here.

use std::cmp::Ordering;

/// `%.17g`, with `inf` / `-inf` (Redis 7.0's `addReplyDouble` and the skiplist's ZSCAN).
pub fn fmt_score(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // An integral score below 2^53 is exact in an i64 and has at most 16 digits, so
    // `%.17g` prints it in full with no fraction: the integer's own text (the common
    // case, and the slow path below costs an exact big-number expansion).
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if v.fract() == 0.0 && v.abs() < EXACT {
        return (v as i64).to_string();
    }
    fmt_score_g17(v)
}

/// `%.17g` of a finite non-zero `v`, through an exact 17-digit expansion.
fn fmt_score_g17(v: f64) -> String {
    // Rust's `{:e}` is exactly rounded like glibc's printf: 17 significant digits.
    let sci = format!("{:.16e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(26);
    if v < 0.0 {
        out.push('-');
    }
    if !(-4..17).contains(&exp) {
        let trimmed = digits.trim_end_matches('0');
        let (first, rest) = trimmed.split_at(1.min(trimmed.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp >= 0 {
        let split = (exp as usize + 1).min(digits.len());
        let (int, frac) = digits.split_at(split);
        out.push_str(int);
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

/// A score as a listpack holds it (Redis 7.0's `d2string`): an integer when the value
/// is integral and within ±2^62, else `%.17g`.
pub fn fmt_listpack_score(v: f64) -> String {
    const LIMIT: f64 = 4_611_686_018_427_387_904.0; // 2^62
    if v.is_finite() && (-LIMIT..=LIMIT).contains(&v) && v.fract() == 0.0 {
        return format!("{}", v as i64);
    }
    fmt_score(v)
}

/// Redis's `getDoubleFromObject` (ZADD scores, ZINCRBY increments, WEIGHTS).
pub use crate::strtod::string2d as parse_score;

/// A score range (`zrangespec`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    /// Redis's `zslParseRange`: `(` makes an end exclusive; the rest is `strtod` over the
    /// whole text (so leading spaces and the empty string, as 0, pass), never NaN.
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, minex) = parse_bound(min)?;
        let (max, maxex) = parse_bound(max)?;
        Some(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }

    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }
}

fn parse_bound(s: &[u8]) -> Option<(f64, bool)> {
    let (text, ex) = match s.split_first() {
        Some((b'(', rest)) => (rest, true),
        _ => (s, false),
    };
    let r = crate::strtod::strtod(text);
    // `eptr[0] != '\0'`: what strtod left must be the end of the C string, so a NUL
    // byte ends the bound; ERANGE is not checked (1e-400 is 0, 1e400 is inf).
    let ends = matches!(text.get(r.consumed), None | Some(0));
    (ends && !r.value.is_nan()).then_some((r.value, ex))
}

/// One end of a lex range (`zlexrangespec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    /// `-`
    Min,
    /// `+`
    Max,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

impl LexBound {
    /// Redis's `zslParseLexRangeItem`.
    pub fn parse(s: &[u8]) -> Option<LexBound> {
        match s.split_first() {
            Some((b'+', [])) => Some(LexBound::Max),
            Some((b'-', [])) => Some(LexBound::Min),
            Some((b'(', rest)) => Some(LexBound::Exclusive(rest.to_vec())),
            Some((b'[', rest)) => Some(LexBound::Inclusive(rest.to_vec())),
            _ => None,
        }
    }

    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Inclusive(_))
    }

    /// Redis's `sdscmplex` of a member against this bound.
    fn cmp_member(&self, member: &[u8]) -> Ordering {
        match self {
            LexBound::Min => Ordering::Greater,
            LexBound::Max => Ordering::Less,
            LexBound::Inclusive(b) | LexBound::Exclusive(b) => member.cmp(b),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        use LexBound::*;
        let cmp = match (&self.min, &self.max) {
            (Min, Min) | (Max, Max) => Ordering::Equal,
            (Min, _) | (_, Max) => Ordering::Less,
            (Max, _) | (_, Min) => Ordering::Greater,
            (Inclusive(a) | Exclusive(a), Inclusive(b) | Exclusive(b)) => a.cmp(b),
        };
        cmp == Ordering::Greater
            || (cmp == Ordering::Equal && (self.min.exclusive() || self.max.exclusive()))
    }

    pub fn gte_min(&self, member: &[u8]) -> bool {
        let c = self.min.cmp_member(member);
        if self.min.exclusive() {
            c == Ordering::Greater
        } else {
            c != Ordering::Less
        }
    }

    pub fn lte_max(&self, member: &[u8]) -> bool {
        let c = self.max.cmp_member(member);
        if self.max.exclusive() {
            c == Ordering::Less
        } else {
            c != Ordering::Greater
        }
    }
}

/// Redis's score order (`<` and `>` on doubles, so -0 equals 0), made total: NaN, which
/// no sorted set holds (ZADD and ZINCRBY refuse it), sorts above every number and
/// equals itself. It is the order of the key (is NaN, the number with -0 as 0), hence
/// a total order, which `sort_by` and the B+tree need.
pub fn score_cmp(a: f64, b: f64) -> Ordering {
    match a.partial_cmp(&b) {
        Some(o) => o,
        // Unordered only when one or both are NaN.
        None => a.is_nan().cmp(&b.is_nan()),
    }
}

/// (score, member) order, the one both encodings keep: total, as `score_cmp` is.
pub(super) fn entry_cmp(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    score_cmp(a_score, b_score).then_with(|| a_member.cmp(b_member))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_text_as_redis() {
        for (v, want) in [
            (0.1, "0.10000000000000001"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e300, "1.0000000000000001e+300"),
            (-0.0, "-0"),
            (0.0, "0"),
            (5.0, "5"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (123456.789, "123456.789"),
            (9007199254740993.0, "9007199254740992"),
            (-1e18, "-1e+18"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (1.5e-310, "1.5000000000000201e-310"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (2.5, "2.5"),
        ] {
            assert_eq!(fmt_score(v), want, "{v:e}");
        }
        // The integral fast path prints what the exact expansion prints.
        let mut integral: Vec<f64> = (1..=2_000).map(f64::from).collect();
        let mut p = 1.0f64;
        while p < 1e16 {
            integral.extend([p, p - 1.0, p + 1.0, 3.0 * p, 7.0 * p + 1.0]);
            p *= 10.0;
        }
        integral.extend([
            9_007_199_254_740_991.0,
            4_503_599_627_370_497.0,
            123_456_789_012_345.0,
        ]);
        for v in integral.into_iter().filter(|v| *v != 0.0) {
            for v in [v, -v] {
                assert_eq!(fmt_score(v), fmt_score_g17(v), "{v:e}");
            }
        }
        assert_eq!(fmt_listpack_score(-0.0), "0");
        assert_eq!(fmt_listpack_score(4e18), "4000000000000000000");
        assert_eq!(
            fmt_listpack_score(4611686018427387904.0),
            "4611686018427387904"
        );
        assert_eq!(fmt_listpack_score(5e18), "5e+18");
        assert_eq!(fmt_listpack_score(0.5), "0.5");
    }

    #[test]
    fn parsing_as_strtod() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"0x1.8p1"), Some(3.0));
        assert_eq!(parse_score(b".5"), Some(0.5));
        assert_eq!(parse_score(b"5."), Some(5.0));
        assert_eq!(parse_score(b"1e-310").map(|v| v > 0.0), Some(true));
        for (text, want) in [
            (&b"1.e5"[..], 1e5),
            (b".5e1", 5.0),
            (b"5.E-1", 0.5),
            (b"00012", 12.0),
            (b"-.5", -0.5),
            (b"1e+2", 100.0),
            (b"0X1P-2", 0.25),
            (b"-0x.8", -0.5),
        ] {
            assert_eq!(
                parse_score(text),
                Some(want),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e400",
            b"1e-400",
            b"abc",
            b"1e",
            b"0x",
            b"--1",
            b"inf1",
        ] {
            assert_eq!(parse_score(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let r = ScoreRange::parse(b"", b"(").expect("empty texts are 0");
        assert_eq!((r.min, r.max, r.minex, r.maxex), (0.0, 0.0, false, true));
        assert!(ScoreRange::parse(b" 1", b"1e400").is_some());
        assert!(ScoreRange::parse(b"nan", b"1").is_none());
        assert!(ScoreRange::parse(b"1 ", b"1").is_none());
        assert!(ScoreRange::parse(b"(", b"((1").is_none());
        // A NUL ends a bound, as it ends the C string strtod reads; not a score.
        assert!(ScoreRange::parse(b"1\x00junk", b"(2\x00").is_some());
        assert_eq!(parse_score(b"1\x00"), None);
        // Scores below 2^-1022 keep their value (powi underflowed them to 0 once).
        assert_eq!(
            parse_score(b"0x1000000000p-1050"),
            Some(5.696189077778436e-306)
        );
        assert_eq!(parse_score(b"0x1p-5000"), None);
    }

    #[test]
    fn score_order_is_total() {
        use Ordering::*;
        assert_eq!(score_cmp(-0.0, 0.0), Equal);
        assert_eq!(score_cmp(f64::NAN, f64::INFINITY), Greater);
        assert_eq!(score_cmp(f64::NEG_INFINITY, f64::NAN), Less);
        assert_eq!(score_cmp(f64::NAN, -f64::NAN), Equal);
        assert_eq!(entry_cmp(f64::NAN, b"a", f64::NAN, b"b"), Less);
    }

    proptest::proptest! {
        /// Sorting arbitrary bit patterns (NaNs included) by `score_cmp` and
        /// `entry_cmp` never panics and yields an order consistent with them.
        #[test]
        fn score_order_sorts_any_bits(
            raw in proptest::collection::vec((proptest::prelude::any::<u64>(), 0u8..4), 0..200),
        ) {
            let mut scores: Vec<f64> = raw.iter().map(|&(b, _)| f64::from_bits(b)).collect();
            scores.sort_by(|a, b| score_cmp(*a, *b));
            proptest::prop_assert!(scores.windows(2).all(|w| score_cmp(w[0], w[1]) != Ordering::Greater));
            let mut entries: Vec<(f64, [u8; 1])> =
                raw.iter().map(|&(b, m)| (f64::from_bits(b), [m])).collect();
            entries.sort_by(|a, b| entry_cmp(a.0, &a.1, b.0, &b.1));
            proptest::prop_assert!(entries
                .windows(2)
                .all(|w| entry_cmp(w[0].0, &w[0].1, w[1].0, &w[1].1) != Ordering::Greater));
        }
    }

    #[test]
    fn lex_ranges() {
        let r = LexRange::parse(b"-", b"+").expect("valid");
        assert!(!r.is_empty() && r.gte_min(b"") && r.lte_max(b"\xff"));
        assert!(LexRange::parse(b"+", b"+").expect("valid").is_empty());
        assert!(LexRange::parse(b"[b", b"(b").expect("valid").is_empty());
        assert!(!LexRange::parse(b"[b", b"[b").expect("valid").is_empty());
        assert!(LexRange::parse(b"b", b"[b").is_none());
        assert!(LexRange::parse(b"", b"[b").is_none());
        let r = LexRange::parse(b"(a", b"[c").expect("valid");
        assert!(!r.gte_min(b"a") && r.gte_min(b"aa") && r.lte_max(b"c") && !r.lte_max(b"ca"));
    }
}
