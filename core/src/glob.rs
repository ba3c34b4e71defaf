//! Redis-style glob matching (`KEYS`, `SCAN MATCH`, `CONFIG GET`, `PSUBSCRIBE`).
//!
//! Same syntax as Redis's `stringmatchlen`: `*`, `?`, `[abc]`, `[^a-z]`, `\x`. Unlike
//! Redis it never recurses: one backtrack point per `*` (the classic wildcard
//! algorithm), so `*?*?…` or `a*a*a*…b` cost O(pattern × text) at worst, and a step
//! budget bounds even that. A match that runs out of budget is reported as no match,
//! as Redis 7 does for patterns nested too deep.

/// Work units one match may spend before it gives up (reports no match).
pub const GLOB_STEP_BUDGET: u64 = 50_000_000;

/// Does `text` match `pattern`? `nocase` folds ASCII case, like Redis's flag.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let mut p = 0usize;
    let mut t = 0usize;
    // Where to resume after the most recent `*`: (pattern index after the star, text index).
    let mut star: Option<(usize, usize)> = None;
    let mut steps: u64 = 0;
    loop {
        steps += 1;
        if steps > GLOB_STEP_BUDGET {
            return false;
        }
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    // Collapse runs of stars.
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, t));
                    continue;
                }
                _ if t < text.len() => {
                    if let Some(next_p) = match_one(pattern, p, text[t], nocase) {
                        p = next_p;
                        t += 1;
                        continue;
                    }
                }
                _ => {}
            }
        } else if t == text.len() {
            return true;
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

/// Matches one pattern element at `p` against byte `c`; returns the index after the
/// element on a match. `p` must point at a non-`*` element.
fn match_one(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<usize> {
    let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    match pattern[p] {
        b'?' => Some(p + 1),
        b'[' => match_class(pattern, p + 1, c, nocase),
        b'\\' if p + 1 < pattern.len() => (fold(pattern[p + 1]) == fold(c)).then_some(p + 2),
        b => (fold(b) == fold(c)).then_some(p + 1),
    }
}

/// A `[...]` class starting just after the `[`. As in Redis, an unclosed class runs
/// to the end of the pattern.
fn match_class(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> Option<usize> {
    let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut matched = false;
    // An unclosed class runs to the end of the pattern, as in Redis.
    while let Some(&b) = pattern.get(p) {
        if b == b']' {
            p += 1;
            break;
        }
        if b == b'\\' && p + 1 < pattern.len() {
            if fold(pattern[p + 1]) == fold(c) {
                matched = true;
            }
            p += 2;
        } else if pattern.get(p + 1) == Some(&b'-') && p + 2 < pattern.len() {
            let (mut lo, mut hi) = (fold(b), fold(pattern[p + 2]));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            let fc = fold(c);
            if fc >= lo && fc <= hi {
                matched = true;
            }
            p += 3;
        } else {
            if fold(b) == fold(c) {
                matched = true;
            }
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
        assert!(glob_match(b"*", b"", false));
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
