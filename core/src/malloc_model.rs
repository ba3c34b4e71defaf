//! What one heap allocation costs in memory, as a pure function of the bytes asked for:
//! the model of glibc malloc (keel-server's allocator) that `used_memory` counts with.
//! It never calls the allocator: the count must stay deterministic and O(1).
//!
//! glibc serves a request of n bytes from a chunk of `max(32, round_up(n + 8, 16))`
//! bytes (an 8-byte size header, 16-byte alignment, a 32-byte minimum): a 32-byte
//! field-and-value buffer takes 48 bytes, a 218-byte listpack 240. Counting the bytes
//! asked for instead left `used_memory` 16-22% under the RSS it accounts for in
//! `bench/memory-types.sh`'s hash rows. Requests past the mmap threshold (128 KiB) are
//! page-rounded instead; that is under 4 KiB on at least 128 KiB (3%), left out.
//! Redis counts its allocator's rounding the same way (`zmalloc_size`).

/// glibc's smallest chunk (`MINSIZE` on 64-bit).
const MIN_CHUNK_BYTES: usize = 32;
/// The size header before each chunk's user bytes (`SIZE_SZ`).
const HEADER_BYTES: usize = 8;
/// Chunk alignment (`MALLOC_ALIGNMENT`).
const ALIGN_BYTES: usize = 16;

/// Bytes of heap a `request_bytes` allocation takes, header and rounding included; 0
/// for 0 (Rust does not allocate for an empty box or vector). Saturates instead of
/// overflowing: no real request is that big.
#[inline]
pub fn chunk_bytes(request_bytes: usize) -> usize {
    if request_bytes == 0 {
        return 0;
    }
    let padded = request_bytes.saturating_add(HEADER_BYTES + ALIGN_BYTES - 1) & !(ALIGN_BYTES - 1);
    padded.max(MIN_CHUNK_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_requests_allocate_nothing() {
        assert_eq!(chunk_bytes(0), 0);
    }

    #[test]
    fn small_requests_take_the_minimum_chunk() {
        // 24 user bytes plus the 8-byte header fill glibc's 32-byte minimum exactly.
        for n in 1..=24 {
            assert_eq!(chunk_bytes(n), 32, "request {n}");
        }
        assert_eq!(chunk_bytes(25), 48);
    }

    #[test]
    fn chunks_match_glibc_for_the_sizes_the_types_allocate() {
        // Pairs read from malloc_usable_size(malloc(n)) + 8 on glibc 2.36 (x86-64).
        for (n, chunk) in [
            (32, 48),
            (40, 48),
            (41, 64),
            (56, 64),
            (57, 80),
            (218, 240),
            (232, 240),
            (233, 256),
            (4096, 4112),
        ] {
            assert_eq!(chunk_bytes(n), chunk, "request {n}");
        }
    }

    #[test]
    fn a_chunk_holds_its_request_and_header_and_wastes_under_one_alignment() {
        for n in 1..5000usize {
            let c = chunk_bytes(n);
            assert_eq!(c % ALIGN_BYTES, 0, "request {n}");
            assert!(c >= n + HEADER_BYTES, "request {n}: chunk {c}");
            assert!(c < (n + HEADER_BYTES + ALIGN_BYTES).max(MIN_CHUNK_BYTES + 1));
            assert!(chunk_bytes(n + 1) >= c, "not monotonic at {n}");
        }
    }

    #[test]
    fn huge_requests_saturate_instead_of_overflowing() {
        assert!(chunk_bytes(usize::MAX) >= usize::MAX - ALIGN_BYTES);
    }
}
