//! keel's `strtod` against the C library's on this machine: the value, the bytes read
//! and ERANGE must agree on every generated text. keel copies glibc 2.36, the one
//! Debian 12's redis-server runs on (its subnormal rounding included); on another C
//! library the test says so and skips.

mod common;

use std::ffi::{CStr, CString};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// (value, bytes read, ERANGE) from the C library, reading `text` up to its first NUL.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn c_strtod(text: &[u8]) -> (f64, usize, bool) {
    let upto_nul = text.split(|&b| b == 0).next().unwrap_or_default();
    let c = CString::new(upto_nul).expect("no NUL before the first NUL");
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call; strtod
    // sets `end` inside it. errno is thread-local.
    let (value, used, errno) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(c.as_ptr(), &mut end);
        let used = end.offset_from(c.as_ptr());
        (v, used, *libc::__errno_location())
    };
    (
        value,
        usize::try_from(used).expect("endptr before nptr"),
        errno == libc::ERANGE,
    )
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn c_strtod(_text: &[u8]) -> (f64, usize, bool) {
    (0.0, 0, false)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_version() -> String {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(libc::gnu_get_libc_version()) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn glibc_version() -> String {
    String::new()
}

fn same(text: &[u8]) -> Result<(), String> {
    let want = c_strtod(text);
    let r = keel_core::strtod::strtod(text);
    let got = (r.value, r.consumed, r.erange);
    let values_match = (want.0.is_nan() && got.0.is_nan()) || want.0.to_bits() == got.0.to_bits();
    if values_match && want.1 == got.1 && want.2 == got.2 {
        return Ok(());
    }
    Err(format!(
        "{}: glibc ({:e}, {}, erange {}), keel ({:e}, {}, erange {})",
        common::escape(text),
        want.0,
        want.1,
        want.2,
        got.0,
        got.1,
        got.2
    ))
}

fn on_glibc_236() -> bool {
    let version = glibc_version();
    if version == "2.36" {
        return true;
    }
    eprintln!("SKIPPED: keel's strtod copies glibc 2.36; this C library is {version:?}");
    false
}

fn cases(default: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(default),
        failure_persistence: None,
        ..Config::default()
    }
}

#[test]
fn strtod_matches_glibc_on_numeric_texts() {
    if !on_glibc_236() {
        return;
    }
    TestRunner::new(cases(20_000))
        .run(&common::numeric_text(), |text| {
            same(text.as_bytes()).map_err(TestCaseError::fail)
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The exact decimal expansion of `m × 2^-e`: `m × 5^e` shifted `e` places.
fn exact_decimal(m: u64, e: u32) -> String {
    // Little-endian base-10^9 limbs.
    let mut limbs: Vec<u64> = vec![
        m % 1_000_000_000,
        m / 1_000_000_000 % 1_000_000_000,
        m / 1_000_000_000_000_000_000,
    ];
    for _ in 0..e {
        let mut carry = 0u64;
        for l in limbs.iter_mut() {
            let v = *l * 5 + carry;
            *l = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    while limbs.len() > 1 && limbs.last() == Some(&0) {
        limbs.pop();
    }
    let mut digits = limbs.last().map(|l| l.to_string()).unwrap_or_default();
    for l in limbs.iter().rev().skip(1) {
        digits.push_str(&format!("{l:09}"));
    }
    let e = e as usize;
    if digits.len() > e {
        let (int, frac) = digits.split_at(digits.len() - e);
        format!("{int}.{frac}")
    } else {
        format!("0.{}{digits}", "0".repeat(e - digits.len()))
    }
}

/// Exact decimal and hex texts of values just around the subnormal range, where glibc
/// 2.36 drops a rounding bit and reads only 1,076 decimal places.
#[test]
fn strtod_matches_glibc_on_exact_subnormal_texts() {
    if !on_glibc_236() {
        return;
    }
    let strategy = (
        prop_oneof![Just(0u64), 0u64..8, any::<u64>()],
        prop_oneof![Just(1u64 << 53), 1u64 << 52..1 << 54, any::<u64>()],
        1000u32..1140,
    );
    TestRunner::new(cases(300))
        .run(&strategy, |(low, high, e)| {
            let m = high.wrapping_add(low).max(1);
            same(exact_decimal(m, e).as_bytes()).map_err(TestCaseError::fail)?;
            same(format!("0x{m:x}p-{e}").as_bytes()).map_err(TestCaseError::fail)
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
