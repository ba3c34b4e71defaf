//! A latency histogram in HdrHistogram's layout, as Redis keeps one per command for
//! `latency-tracking` (1 ns to 1 s, 2 significant digits): the same buckets, so
//! percentiles and LATENCY HISTOGRAM's cumulative buckets come out as Redis's do. Plain
//! counting; it never allocates after creation and never panics on any value.

/// Lowest and highest values tracked, in nanoseconds (Redis's
/// `LATENCY_HISTOGRAM_MIN_VALUE` / `MAX_VALUE`); values outside are clamped.
pub const MIN_VALUE_NS: u64 = 1;
pub const MAX_VALUE_NS: u64 = 1_000_000_000;

/// Two significant digits: 2 * 10^2 distinct values per bucket, rounded up to a power
/// of two (HdrHistogram's `sub_bucket_count`).
const SUB_BUCKET_COUNT: u64 = 256;
const SUB_BUCKET_HALF_COUNT: u64 = SUB_BUCKET_COUNT / 2;
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = 7;
const SUB_BUCKET_MASK: u64 = SUB_BUCKET_COUNT - 1;
/// Buckets needed to reach `MAX_VALUE_NS`: 256 << 22 > 1e9.
const BUCKET_COUNT: u64 = 23;
const COUNTS_LEN: usize = ((BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT) as usize;

#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; COUNTS_LEN]>,
    total_count: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Histogram({} values)", self.total_count)
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; COUNTS_LEN]),
            total_count: 0,
        }
    }
}

fn bucket_index(value: u64) -> u32 {
    // Position of the highest set bit of value | mask, less the sub-bucket width.
    let pow2_ceiling = 64 - (value | SUB_BUCKET_MASK).leading_zeros();
    pow2_ceiling - (SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1)
}

fn counts_index(value: u64) -> usize {
    let bucket = bucket_index(value);
    let sub_bucket = value >> bucket;
    (((u64::from(bucket) + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub_bucket
        - SUB_BUCKET_HALF_COUNT) as usize
}

/// The lowest value counted at `index`.
fn value_at_index(index: usize) -> u64 {
    let index = index as u64;
    let mut bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) as i64 - 1;
    let mut sub_bucket = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
    if bucket < 0 {
        sub_bucket -= SUB_BUCKET_HALF_COUNT;
        bucket = 0;
    }
    sub_bucket << bucket
}

fn lowest_equivalent(value: u64) -> u64 {
    let bucket = bucket_index(value);
    (value >> bucket) << bucket
}

fn highest_equivalent(value: u64) -> u64 {
    lowest_equivalent(value) + (1u64 << bucket_index(value)) - 1
}

impl Histogram {
    /// Counts one value (nanoseconds), clamped into the tracked range.
    #[inline]
    pub fn record(&mut self, value_ns: u64) {
        let value = value_ns.clamp(MIN_VALUE_NS, MAX_VALUE_NS);
        if let Some(slot) = self.counts.get_mut(counts_index(value)) {
            *slot += 1;
            self.total_count += 1;
        }
    }

    pub fn total_count(&self) -> u64 {
        self.total_count
    }

    /// HdrHistogram's `hdr_value_at_percentile`, in nanoseconds.
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let requested = percentile.min(100.0);
        let wanted = (((requested / 100.0) * self.total_count as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0u64;
        let mut value = 0u64;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                value = value_at_index(index);
                break;
            }
        }
        if percentile == 0.0 {
            lowest_equivalent(value)
        } else {
            highest_equivalent(value)
        }
    }

    /// LATENCY HISTOGRAM's buckets: HdrHistogram's logarithmic iterator (first bucket
    /// 1024 ns, base 2) as (microseconds, cumulative count), only where the count grew,
    /// as Redis's `fillCommandCDF` replies them.
    pub fn cumulative_buckets_usec(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut level = 1024u64;
        let mut cumulative = 0u64;
        let mut previous = 0u64;
        let mut index = 0usize;
        while cumulative < self.total_count && level <= MAX_VALUE_NS * 2 {
            // Everything counted at or below the reporting level's own slot.
            let level_index = counts_index(level.min(MAX_VALUE_NS));
            while index <= level_index {
                cumulative += self.counts.get(index).copied().unwrap_or(0);
                index += 1;
            }
            if cumulative > previous {
                out.push((
                    highest_equivalent(level.min(MAX_VALUE_NS)) / 1000,
                    cumulative,
                ));
            }
            previous = cumulative;
            level *= 2;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_hdr_for_two_digits() {
        // Values below 256 are exact; above, each bucket doubles its step.
        assert_eq!(counts_index(1), 1);
        assert_eq!(counts_index(255), 255);
        assert_eq!(value_at_index(counts_index(256)), 256);
        assert_eq!(value_at_index(counts_index(1031)), 1024);
        assert_eq!(highest_equivalent(1024), 1031);
        // 1e9 falls in the bucket of step 2^22 starting at 238 << 22.
        assert_eq!(highest_equivalent(MAX_VALUE_NS), (239 << 22) - 1);
        assert!(counts_index(MAX_VALUE_NS) < COUNTS_LEN);
    }

    #[test]
    fn percentiles_and_buckets() {
        let mut h = Histogram::default();
        for ns in [500, 1_500, 3_000, 3_000, 40_000] {
            h.record(ns);
        }
        h.record(0); // clamped to 1 ns
        h.record(u64::MAX); // clamped to 1 s
        assert_eq!(h.total_count(), 7);
        assert_eq!(h.value_at_percentile(50.0), highest_equivalent(3_000));
        assert_eq!(
            h.value_at_percentile(100.0),
            highest_equivalent(MAX_VALUE_NS)
        );
        assert_eq!(h.value_at_percentile(0.0), 1);
        let buckets = h.cumulative_buckets_usec();
        assert_eq!(buckets.first(), Some(&(1, 2)));
        assert_eq!(buckets.get(1), Some(&(2, 3)));
        assert_eq!(buckets.get(2), Some(&(4, 5)));
        assert_eq!(buckets.last().map(|b| b.1), Some(7));
        // Redis's 32 µs level reads 33 (highest equivalent of 32768 ns).
        assert!(buckets.contains(&(66, 6)));
    }
}
