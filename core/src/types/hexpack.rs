//! Hex digit strings packed two digits a byte, for the compact collection encodings
//! (the hash listpack, list chunks): `0-9a-f` or `0-9A-F`, first digit in the high
//! nibble, an odd count's last low nibble zero. The digit count and the case live in
//! the caller's framing; this module only packs, unpacks and compares, and never
//! panics on a short or malformed packed slice (missing nibbles read as `0`).

/// How a packed string reads back: `digits` hex digits, letters in upper case when
/// `upper`. Strings of decimal digits alone are packed as lower case (either reads back
/// the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hex {
    pub digits: usize,
    pub upper: bool,
}

impl Hex {
    /// Bytes the packed digits take.
    pub fn packed_bytes(self) -> usize {
        packed_bytes(self.digits)
    }
}

/// Bytes `digits` hex digits take packed.
pub fn packed_bytes(digits: usize) -> usize {
    digits / 2 + digits % 2
}

const OTHER: u8 = 0;
const DIGIT: u8 = 1;
const LOWER: u8 = 2;
const UPPER: u8 = 4;

/// Each byte's class: a decimal digit, a lower or upper hex letter, or anything else.
// Evaluated at compile time: an out-of-range index would fail the build, not a run.
#[allow(clippy::indexing_slicing)]
const CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = DIGIT;
        c += 1;
    }
    let mut c = 0u8;
    while c < 6 {
        t[(b'a' + c) as usize] = LOWER;
        t[(b'A' + c) as usize] = UPPER;
        c += 1;
    }
    t
};

/// A hex character's nibble value (`0xFF` for anything else; only hex is looked up).
#[allow(clippy::indexing_slicing)] // compile time, as CLASS
const NIBBLE: [u8; 256] = {
    let mut t = [0xFF; 256];
    let mut c = 0u8;
    while c < 10 {
        t[(b'0' + c) as usize] = c;
        c += 1;
    }
    let mut c = 0u8;
    while c < 6 {
        t[(b'a' + c) as usize] = 10 + c;
        t[(b'A' + c) as usize] = 10 + c;
        c += 1;
    }
    t
};

const LOWER_DIGITS: &[u8; 16] = b"0123456789abcdef";
const UPPER_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// Each byte value as its two digits, one table per case: unpacking copies a pair a byte.
#[allow(clippy::indexing_slicing)] // compile time, as CLASS
const fn pair_table(digits: &[u8; 16]) -> [[u8; 2]; 256] {
    let mut t = [[0u8; 2]; 256];
    let mut b = 0usize;
    while b < 256 {
        t[b] = [digits[b >> 4], digits[b & 0xF]];
        b += 1;
    }
    t
}
const LOWER_PAIRS: [[u8; 2]; 256] = pair_table(LOWER_DIGITS);
const UPPER_PAIRS: [[u8; 2]; 256] = pair_table(UPPER_DIGITS);

/// `table[b]`: a byte indexes a 256-entry table, always in range.
#[allow(clippy::indexing_slicing)]
#[inline(always)]
fn at<T: Copy>(table: &[T; 256], b: u8) -> T {
    table[usize::from(b)]
}

/// How `s` packs: None when it is empty or holds anything but hex digits of one case.
#[inline]
pub fn classify(s: &[u8]) -> Option<Hex> {
    if s.is_empty() {
        return None;
    }
    let mut seen = 0u8;
    for &b in s {
        let class = at(&CLASS, b);
        if class == OTHER {
            return None;
        }
        seen |= class;
    }
    if seen & LOWER != 0 && seen & UPPER != 0 {
        return None;
    }
    Some(Hex {
        digits: s.len(),
        upper: seen & UPPER != 0,
    })
}

/// True when `s` packs as `hex` reads back: as many digits, none a letter of the other
/// case (decimal digits fit either case).
pub fn fits(s: &[u8], hex: Hex) -> bool {
    let wrong = if hex.upper { LOWER } else { UPPER };
    s.len() == hex.digits
        && s.iter().all(|&b| {
            let class = at(&CLASS, b);
            class != OTHER && class != wrong
        })
}

/// Appends `s` packed. `s` must be hex digits (`classify` said so); anything else
/// packs as garbage but never panics.
pub fn pack_into(s: &[u8], out: &mut Vec<u8>) {
    debug_assert!(classify(s).is_some(), "packing a string that is not hex");
    let nibble = |b: u8| at(&NIBBLE, b) & 0xF;
    let mut pairs = s.chunks_exact(2);
    for pair in &mut pairs {
        if let [hi, lo] = *pair {
            out.push((nibble(hi) << 4) | nibble(lo));
        }
    }
    if let [last] = *pairs.remainder() {
        out.push(nibble(last) << 4);
    }
}

/// Appends the `hex.digits` digits `packed` holds.
#[inline]
pub fn unpack_into(packed: &[u8], hex: Hex, out: &mut Vec<u8>) {
    let pairs = if hex.upper {
        &UPPER_PAIRS
    } else {
        &LOWER_PAIRS
    };
    let start = out.len();
    // Whole pairs, the odd digit's pair included, then cut to length; bytes `packed`
    // lacks stay '0'.
    out.resize(start + hex.packed_bytes() * 2, b'0');
    if let Some(dst) = out.get_mut(start..) {
        for (pair, &b) in dst.chunks_exact_mut(2).zip(packed) {
            pair.copy_from_slice(&at(pairs, b));
        }
    }
    out.truncate(start + hex.digits);
}

/// Most digits `with_unpacked` unpacks on the stack.
const STACK_DIGITS: usize = 128;

/// Calls `f` with the digits `packed` holds, unpacked into a stack buffer when they
/// fit (reads of small collections allocate nothing), into a vector otherwise.
#[inline]
pub fn with_unpacked<R>(packed: &[u8], hex: Hex, f: impl FnOnce(&[u8]) -> R) -> R {
    if hex.digits > STACK_DIGITS {
        return f(&unpack(packed, hex));
    }
    let pairs = if hex.upper {
        &UPPER_PAIRS
    } else {
        &LOWER_PAIRS
    };
    let mut buf = [b'0'; STACK_DIGITS];
    for (dst, &b) in buf.chunks_exact_mut(2).zip(packed) {
        dst.copy_from_slice(&at(pairs, b));
    }
    f(buf.get(..hex.digits).unwrap_or(&[]))
}

/// The digits `packed` holds, as a new vector.
pub fn unpack(packed: &[u8], hex: Hex) -> Vec<u8> {
    let mut out = Vec::with_capacity(hex.digits);
    unpack_into(packed, hex, &mut out);
    out
}

/// How many leading bytes `s` shares with the packed string, without unpacking it:
/// two digits (one packed byte) a step.
#[inline]
pub fn common_prefix_len(packed: &[u8], hex: Hex, s: &[u8]) -> usize {
    let pairs = if hex.upper {
        &UPPER_PAIRS
    } else {
        &LOWER_PAIRS
    };
    let limit = hex.digits.min(s.len());
    let mut i = 0;
    for (&b, want) in packed.iter().zip(s.chunks(2)) {
        let [hi, lo] = at(pairs, b);
        match *want {
            [c0, c1] if c0 == hi && c1 == lo => i += 2,
            [c0, ..] if c0 == hi => {
                i += 1;
                break;
            }
            _ => break,
        }
    }
    i.min(limit)
}

/// True when the packed string reads back as `s`.
#[inline]
pub fn equals(packed: &[u8], hex: Hex, s: &[u8]) -> bool {
    s.len() == hex.digits && common_prefix_len(packed, hex, s) == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(s: &[u8]) -> Option<Vec<u8>> {
        let hex = classify(s)?;
        let mut packed = Vec::new();
        pack_into(s, &mut packed);
        assert_eq!(packed.len(), hex.packed_bytes());
        assert!(equals(&packed, hex, s));
        assert!(fits(s, hex));
        Some(unpack(&packed, hex))
    }

    #[test]
    fn edges() {
        assert_eq!(classify(b""), None);
        assert_eq!(
            classify(b"0"),
            Some(Hex {
                digits: 1,
                upper: false
            })
        );
        assert_eq!(
            classify(b"00ff"),
            Some(Hex {
                digits: 4,
                upper: false
            })
        );
        assert_eq!(
            classify(b"00FF"),
            Some(Hex {
                digits: 4,
                upper: true
            })
        );
        // Mixed case, non-hex letters, signs, spaces and bytes past ASCII stay raw.
        for s in [&b"00fF"[..], b"0g", b"-1", b" 1", b"0x1f", b"\xff", b"12 "] {
            assert_eq!(classify(s), None, "{s:?}");
        }
        for s in [
            &b"0"[..],
            b"7",
            b"f",
            b"F",
            b"000",
            b"0123456789abcdef",
            b"0123456789ABCDEF",
            b"deadbeefcafe0",
            b"DEADBEEFCAFE0",
            b"00000000000000000000000000000000000000001",
        ] {
            assert_eq!(round_trip(s).as_deref(), Some(s));
        }
        // An odd count leaves the last low nibble zero (buffers are canonical).
        let mut packed = Vec::new();
        pack_into(b"abc", &mut packed);
        assert_eq!(packed, vec![0xAB, 0xC0]);
    }

    #[test]
    fn stack_and_heap_unpacking_agree() {
        for digits in [1usize, 2, 15, 16, 127, 128, 129, 300] {
            for upper in [false, true] {
                let s: Vec<u8> = (0..digits)
                    .map(|i| {
                        let d = b"0123456789abcdef"[(i * 7 + 3) % 16];
                        if upper {
                            d.to_ascii_uppercase()
                        } else {
                            d
                        }
                    })
                    .collect();
                let hex = Hex { digits, upper };
                assert!(fits(&s, hex));
                let mut packed = Vec::new();
                pack_into(&s, &mut packed);
                assert_eq!(with_unpacked(&packed, hex, <[u8]>::to_vec), s);
                // Missing bytes read as zeros here too.
                let short = with_unpacked(&packed[..packed.len() / 2], hex, <[u8]>::to_vec);
                assert_eq!(short, unpack(&packed[..packed.len() / 2], hex));
            }
        }
    }

    #[test]
    fn decimal_digits_fit_either_case() {
        let lower = Hex {
            digits: 3,
            upper: false,
        };
        let upper = Hex {
            digits: 3,
            upper: true,
        };
        assert!(fits(b"123", lower) && fits(b"123", upper));
        assert!(fits(b"1a3", lower) && !fits(b"1a3", upper));
        assert!(!fits(b"1A3", lower) && fits(b"1A3", upper));
        assert!(!fits(b"12", lower) && !fits(b"1234", lower) && !fits(b"1x3", lower));
    }

    #[test]
    fn comparisons_stop_at_the_first_difference() {
        let hex = classify(b"abcdef").unwrap_or(Hex {
            digits: 0,
            upper: false,
        });
        let mut packed = Vec::new();
        pack_into(b"abcdef", &mut packed);
        assert_eq!(common_prefix_len(&packed, hex, b"abcdef"), 6);
        assert_eq!(common_prefix_len(&packed, hex, b"abcdefff"), 6);
        assert_eq!(common_prefix_len(&packed, hex, b"abd"), 2);
        assert_eq!(common_prefix_len(&packed, hex, b"ABC"), 0);
        assert_eq!(common_prefix_len(&packed, hex, b""), 0);
        assert!(!equals(&packed, hex, b"abcde"));
        assert!(!equals(&packed, hex, b"ABCDEF"));
        // A truncated packed slice reads missing nibbles as zero, never panics.
        assert_eq!(unpack(&packed[..1], hex), b"ab0000".to_vec());
    }

    proptest! {
        /// The packed comparison agrees with comparing the unpacked bytes.
        #[test]
        fn comparison_matches_unpacked(
            a in "[0-9a-f]{1,20}|[0-9A-F]{1,20}",
            b in "[0-9a-fA-F]{0,22}",
        ) {
            let (a, b) = (a.as_bytes(), b.as_bytes());
            let hex = classify(a).unwrap_or(Hex { digits: 0, upper: false });
            let mut packed = Vec::new();
            pack_into(a, &mut packed);
            let naive = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            prop_assert_eq!(common_prefix_len(&packed, hex, b), naive);
            prop_assert_eq!(common_prefix_len(&packed, hex, a), a.len());
            prop_assert_eq!(equals(&packed, hex, b), a == b);
            // Sharing a prefix of `a` then diverging.
            let cut = b.len().min(a.len());
            let mixed = [&a[..cut], b].concat();
            let naive = a.iter().zip(&mixed).take_while(|(x, y)| x == y).count();
            prop_assert_eq!(common_prefix_len(&packed, hex, &mixed), naive);
        }

        /// Any byte string: packs exactly when it is non-empty hex of one case, and
        /// then reads back byte for byte.
        #[test]
        fn any_string_round_trips(s in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            "[0-9a-f]{0,40}".prop_map(String::into_bytes),
            "[0-9A-F]{0,40}".prop_map(String::into_bytes),
            "[0-9a-fA-F]{0,40}".prop_map(String::into_bytes),
        ]) {
            let one_case = !s.is_empty()
                && s.iter().all(u8::is_ascii_hexdigit)
                && !(s.iter().any(u8::is_ascii_lowercase) && s.iter().any(u8::is_ascii_uppercase));
            match round_trip(&s) {
                Some(back) => {
                    prop_assert!(one_case);
                    prop_assert_eq!(back, s);
                }
                None => prop_assert!(!one_case),
            }
        }
    }
}
