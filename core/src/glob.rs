//! Redis-style glob matching (`KEYS`, `SCAN MATCH`, `CONFIG GET`, `PSUBSCRIBE`).
//!
//! Same syntax and results as Redis 7.0's `stringmatchlen`: `*`, `?`, `[abc]`, `[^a-z]`,
//! `\x`, with its edge cases (an empty text matches only an empty pattern, class ranges
//! compare C's signed chars, a pattern needing more than 1000 nested `*` never matches).
//! Unlike Redis it never recurses: one backtrack point per `*` (the classic wildcard
//! algorithm), so `*?*?…` or `a*a*a*…b` cost O(pattern × text) at worst, and a step
//! budget bounds even that. A match that runs out of budget is reported as no match.

/// Work units one match may spend before it gives up (reports no match).
pub const GLOB_STEP_BUDGET: u64 = 50_000_000;
/// Redis's `stringmatchlen` recurses once per run of `*` that has more pattern after it
/// and answers "no match" past this depth: a pattern with more such runs never matches.
pub const GLOB_STAR_NESTING_MAX: u32 = 1000;

/// Does `text` match `pattern`? `nocase` folds ASCII case, like Redis's flag.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    // Redis's loop runs only while both have bytes left, so an empty text matches only
    // an empty pattern, `*` included (KEYS and SCAN take a lone `*` before matching).
    if text.is_empty() {
        return pattern.is_empty();
    }
    let mut p = 0usize;
    let mut t = 0usize;
    // Where to resume after the most recent `*`: (pattern index after the star, text index).
    let mut star: Option<(usize, usize)> = None;
    // Runs of `*` passed so far. Backtracking only returns to the latest one, so each is
    // counted once, and every match goes through all of them, as Redis's recursion does.
    let mut star_runs: u32 = 0;
    let mut steps: u64 = 0;
    loop {
        steps += 1;
        if steps > GLOB_STEP_BUDGET {
            return false;
        }
        match pattern.get(p) {
            Some(b'*') => {
                // Collapse runs of stars.
                while pattern.get(p) == Some(&b'*') {
                    p += 1;
                }
                if p == pattern.len() {
                    return true;
                }
                star_runs += 1;
                if star_runs > GLOB_STAR_NESTING_MAX {
                    return false;
                }
                star = Some((p, t));
                continue;
            }
            Some(_) => {
                if let Some(&c) = text.get(t) {
                    if let Some(next_p) = match_one(pattern, p, c, nocase) {
                        p = next_p;
                        t += 1;
                        continue;
                    }
                }
            }
            None => {
                if t == text.len() {
                    return true;
                }
            }
        }
        // Mismatch: let the last star swallow one more byte, or fail.
        match star {
            Some((sp, st)) if st < text.len() => {
                star = Some((sp, st + 1));
                p = sp;
                t = st + 1;
            }
            _ => return false,
        }
    }
}

fn fold(b: u8, nocase: bool) -> u8 {
    if nocase {
        b.to_ascii_lowercase()
    } else {
        b
    }
}

/// Matches one pattern element at `p` against byte `c`; returns the index after the
/// element on a match. `p` must point at a non-`*` element.
fn match_one(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<usize> {
    match *pattern.get(p)? {
        b'?' => Some(p + 1),
        b'[' => match_class(pattern, p + 1, c, nocase),
        b'\\' if p + 1 < pattern.len() => {
            let escaped = *pattern.get(p + 1)?;
            (fold(escaped, nocase) == fold(c, nocase)).then_some(p + 2)
        }
        b => (fold(b, nocase) == fold(c, nocase)).then_some(p + 1),
    }
}

/// A byte as C's (signed) `char` widened to `int`, then `tolower` in the C locale when
/// `nocase`: how Redis compares class ranges, so `[a-\xff]` is the range -1..=97.
fn c_char(b: u8) -> i32 {
    i32::from(b as i8)
}

fn c_tolower(v: i32, nocase: bool) -> i32 {
    if nocase && (i32::from(b'A')..=i32::from(b'Z')).contains(&v) {
        v + 32
    } else {
        v
    }
}

/// A `[...]` class starting just after the `[`. As in Redis, an unclosed class runs
/// to the end of the pattern, an escaped byte inside it is compared exactly (even with
/// `nocase`), and a range's ends are swapped before they are lower-cased.
fn match_class(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> Option<usize> {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut matched = false;
    while let Some(&b) = pattern.get(p) {
        if b == b'\\' {
            if let Some(&escaped) = pattern.get(p + 1) {
                matched |= escaped == c;
                p += 2;
                continue;
            }
        }
        if b == b']' {
            p += 1;
            break;
        }
        if let (Some(b'-'), Some(&end)) = (pattern.get(p + 1), pattern.get(p + 2)) {
            let (mut lo, mut hi) = (c_char(b), c_char(end));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            let (lo, hi) = (c_tolower(lo, nocase), c_tolower(hi, nocase));
            let v = c_tolower(c_char(c), nocase);
            matched |= lo <= v && v <= hi;
            p += 3;
        } else {
            matched |= fold(b, nocase) == fold(c, nocase);
            p += 1;
        }
    }
    (matched != negate).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        // An empty text matches only an empty pattern (Redis's loop never runs).
        assert!(!glob_match(b"*", b"", false));
        assert!(!glob_match(b"**", b"", false));
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(!glob_match(b"h?llo", b"hllo", false));
        assert!(glob_match(b"h*llo", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[ae]llo", b"hillo", false));
        assert!(glob_match(b"h[^e]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"h[b-a]llo", b"hbllo", false));
        assert!(glob_match(b"h\\*llo", b"h*llo", false));
        assert!(!glob_match(b"h\\*llo", b"hello", false));
        assert!(glob_match(b"MAXMEM*", b"maxmemory", true));
        assert!(!glob_match(b"MAXMEM*", b"maxmemory", false));
        assert!(glob_match(b"a*b*c", b"aXXbYYc", false));
        assert!(!glob_match(b"a*b*c", b"aXXbYY", false));
        assert!(glob_match(b"*a", b"aaa", false));
        assert!(!glob_match(b"", b"a", false));
        assert!(glob_match(b"", b"", false));
    }

    #[test]
    fn hostile_patterns_finish() {
        let mut pat = Vec::new();
        for _ in 0..20_000 {
            pat.extend_from_slice(b"*?");
        }
        assert!(!glob_match(&pat, b"short", false));
        let mut pat = Vec::new();
        for _ in 0..10_000 {
            pat.extend_from_slice(b"a*");
        }
        pat.push(b'b');
        let text = vec![b'a'; 5_000];
        assert!(!glob_match(&pat, &text, false));
    }

    #[test]
    fn more_than_1000_nested_stars_never_match() {
        let text = vec![b'a'; 1100];
        for (runs, matches) in [(999, true), (1000, true), (1001, false), (1002, false)] {
            let pat = b"*a".repeat(runs);
            assert_eq!(glob_match(&pat, &text, false), matches, "{runs} runs");
            // A final run of stars needs no recursion in Redis: it does not count.
            let pat = [pat, b"*".to_vec()].concat();
            assert_eq!(glob_match(&pat, &text, false), matches, "{runs} runs + *");
        }
        // A run is one level however many stars it has; ? and [..] do not nest.
        assert!(glob_match(&b"*".repeat(5000), b"a", false));
        assert!(glob_match(&b"?".repeat(1100), &text, false));
        assert!(glob_match(&b"[a]".repeat(1100), &text, false));
    }

    #[test]
    fn class_ranges_compare_signed_chars() {
        // [a-\xff] is -1..=97 to Redis: neither 'b' nor 0x80.
        assert!(!glob_match(b"[a-\xff]", b"b", false));
        assert!(!glob_match(b"[a-\xff]", b"\x80", false));
        assert!(glob_match(b"[a-\xff]", b"\xff", false));
        assert!(glob_match(b"[\x7f-\x81]", b"b", false));
        assert!(!glob_match(b"[\x7f-\x81]", b"\x80", false));
        assert!(glob_match(b"[^a-\xff]", b"\x80", false));
    }

    #[test]
    fn nocase_classes_like_redis() {
        // An escaped byte in a class is compared exactly.
        assert!(!glob_match(b"[\\M]axmemory", b"maxmemory", true));
        assert!(glob_match(b"[\\m]axmemory", b"maxmemory", true));
        // Ends are swapped before lower-casing: [Z-a] is z..=a, empty.
        assert!(!glob_match(b"[Z-a]", b"m", true));
        assert!(glob_match(b"[Z-a]", b"^", false));
    }

    /// Redis 7.0.15's `stringmatchlen_impl`, transliterated (recursion, skip flag,
    /// nesting limit, C chars, reads past the end giving the NUL terminator): the
    /// oracle for the property test below.
    fn redis_stringmatch(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
        fn imp(pat: &[u8], s: &[u8], nocase: bool, skip: &mut bool, nesting: u32) -> bool {
            if nesting > 1000 {
                return false;
            }
            let at = |v: &[u8], i: usize| v.get(i).map_or(0, |&b| i32::from(b as i8));
            let lower = |v: i32| if (65..=90).contains(&v) { v + 32 } else { v };
            let ch = |b: u8| i32::from(b);
            let (mut p, mut si) = (0usize, 0usize);
            let (mut plen, mut slen) = (pat.len() as isize, s.len() as isize);
            while plen > 0 && slen > 0 {
                let pc = at(pat, p);
                if pc == ch(b'*') {
                    while plen > 0 && at(pat, p + 1) == ch(b'*') {
                        p += 1;
                        plen -= 1;
                    }
                    if plen == 1 {
                        return true;
                    }
                    while slen > 0 {
                        if imp(&pat[p + 1..], &s[si..], nocase, skip, nesting + 1) {
                            return true;
                        }
                        if *skip {
                            return false;
                        }
                        si += 1;
                        slen -= 1;
                    }
                    *skip = true;
                    return false;
                } else if pc == ch(b'?') {
                    si += 1;
                    slen -= 1;
                } else if pc == ch(b'[') {
                    p += 1;
                    plen -= 1;
                    let not = at(pat, p) == ch(b'^');
                    if not {
                        p += 1;
                        plen -= 1;
                    }
                    let mut m = false;
                    loop {
                        if at(pat, p) == ch(b'\\') && plen >= 2 {
                            p += 1;
                            plen -= 1;
                            if at(pat, p) == at(s, si) {
                                m = true;
                            }
                        } else if at(pat, p) == ch(b']') {
                            break;
                        } else if plen == 0 {
                            p -= 1;
                            plen += 1;
                            break;
                        } else if plen >= 3 && at(pat, p + 1) == ch(b'-') {
                            let (mut start, mut end) = (at(pat, p), at(pat, p + 2));
                            let mut c = at(s, si);
                            if start > end {
                                std::mem::swap(&mut start, &mut end);
                            }
                            if nocase {
                                start = lower(start);
                                end = lower(end);
                                c = lower(c);
                            }
                            p += 2;
                            plen -= 2;
                            if c >= start && c <= end {
                                m = true;
                            }
                        } else if !nocase {
                            if at(pat, p) == at(s, si) {
                                m = true;
                            }
                        } else if lower(at(pat, p)) == lower(at(s, si)) {
                            m = true;
                        }
                        p += 1;
                        plen -= 1;
                    }
                    if not {
                        m = !m;
                    }
                    if !m {
                        return false;
                    }
                    si += 1;
                    slen -= 1;
                } else {
                    if pc == ch(b'\\') && plen >= 2 {
                        p += 1;
                        plen -= 1;
                    }
                    let same = if nocase {
                        lower(at(pat, p)) == lower(at(s, si))
                    } else {
                        at(pat, p) == at(s, si)
                    };
                    if !same {
                        return false;
                    }
                    si += 1;
                    slen -= 1;
                }
                p += 1;
                plen -= 1;
                if slen == 0 {
                    while at(pat, p) == ch(b'*') {
                        p += 1;
                        plen -= 1;
                    }
                    break;
                }
            }
            plen == 0 && slen == 0
        }
        let mut skip = false;
        imp(pattern, string, nocase, &mut skip, 0)
    }

    fn glob_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            proptest::sample::select(&b"ab*?[]^-\\A\x80\xff\0"[..]),
            0..9,
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        #[test]
        fn same_results_as_redis(pattern in glob_bytes(), text in glob_bytes(), nocase: bool) {
            proptest::prop_assert_eq!(
                glob_match(&pattern, &text, nocase),
                redis_stringmatch(&pattern, &text, nocase),
                "pattern {:?} text {:?}", pattern, text
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn literal_matches_itself(s in "[a-z0-9]{0,20}") {
            proptest::prop_assert!(glob_match(s.as_bytes(), s.as_bytes(), false));
        }
        #[test]
        fn never_panics(p in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
                        t in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let _ = glob_match(&p, &t, false);
            let _ = glob_match(&p, &t, true);
        }
    }
}
