//! The latency monitor (Redis's latency.c): per event class ("command",
//! "fast-command", ...) the last 160 one-second samples over `latency-monitor-threshold`
//! and the all-time maximum, plus the texts LATENCY GRAPH and DOCTOR render from them.
//! It only stores what it is handed; timing and thresholds are the caller's.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
pub const SAMPLES_PER_EVENT: usize = 160;

/// The latency events of one AOF disk operation, as Redis's `flushAppendOnlyFile`
/// names them: a write counts as `aof-write` and as one of `aof-write-pending-fsync`
/// (an fsync was in flight), `aof-write-active-child` (a save or rewrite was running:
/// keel's fork-less ones stand where Redis's child would) or `aof-write-alone`; the
/// fsync after each write under `appendfsync always` as `aof-fsync-always` (an
/// `everysec` fsync is Redis's background job and has no event); a rewrite's rename
/// of its new base as `aof-rename`.
pub fn aof_op_events(
    op: &crate::io::DiskOp,
    fsync_always: bool,
    fsync_in_flight: bool,
    save_running: bool,
) -> &'static [&'static str] {
    use crate::io::DiskOp;
    match op {
        DiskOp::Append { .. } | DiskOp::WriteAt { .. } if fsync_in_flight => {
            &["aof-write-pending-fsync", "aof-write"]
        }
        DiskOp::Append { .. } | DiskOp::WriteAt { .. } if save_running => {
            &["aof-write-active-child", "aof-write"]
        }
        DiskOp::Append { .. } | DiskOp::WriteAt { .. } => &["aof-write-alone", "aof-write"],
        DiskOp::Fsync { .. } if fsync_always => &["aof-fsync-always"],
        DiskOp::Rename { to, .. } if to.contains(".base.") => &["aof-rename"],
        _ => &[],
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub time_secs: u64,
    pub latency_ms: u64,
}

#[derive(Debug, Default, Clone)]
pub struct EventSeries {
    /// Oldest first.
    pub samples: VecDeque<Sample>,
    pub max_ms: u64,
}

#[derive(Debug, Default)]
pub struct LatencyMonitor {
    /// By event name; sorted so LATEST and DOCTOR list events in a stable order.
    pub events: BTreeMap<String, EventSeries>,
}

impl LatencyMonitor {
    /// Redis's `latencyAddSample`: one sample per second per event, the highest wins.
    pub fn add_sample(&mut self, event: &str, time_secs: u64, latency_ms: u64) {
        let series = match self.events.get_mut(event) {
            Some(series) => series,
            None => self.events.entry(event.to_string()).or_default(),
        };
        series.max_ms = series.max_ms.max(latency_ms);
        if let Some(last) = series.samples.back_mut() {
            if last.time_secs == time_secs {
                last.latency_ms = last.latency_ms.max(latency_ms);
                return;
            }
        }
        series.samples.push_back(Sample {
            time_secs,
            latency_ms,
        });
        while series.samples.len() > SAMPLES_PER_EVENT {
            series.samples.pop_front();
        }
    }

    /// LATENCY RESET: the named events (all when none named); how many were reset.
    pub fn reset(&mut self, events: &[String]) -> usize {
        if events.is_empty() {
            let n = self.events.len();
            self.events.clear();
            return n;
        }
        events
            .iter()
            .filter(|e| self.events.remove(e.as_str()).is_some())
            .count()
    }

    /// LATENCY GRAPH's text (Redis's `latencyCommandGenSparkeline`): a header, then a
    /// 80-column wide sparkline of the samples, the newest on the right, with each
    /// column's age below it.
    pub fn graph(&self, event: &str, now_secs: u64) -> Option<String> {
        let series = self.events.get(event)?;
        let (mut min, mut max) = (u64::MAX, 0u64);
        for s in &series.samples {
            min = min.min(s.latency_ms);
            max = max.max(s.latency_ms);
        }
        if series.samples.is_empty() {
            return None;
        }
        let mut text = format!(
            "{event} - high {max} ms, low {min} ms (all time high {} ms)\n",
            series.max_ms
        );
        text.push_str(&"-".repeat(80));
        text.push('\n');
        let rows = 4usize;
        let columns: Vec<(u64, String)> = series
            .samples
            .iter()
            .map(|s| {
                (
                    s.latency_ms,
                    age_label(now_secs.saturating_sub(s.time_secs)),
                )
            })
            .collect();
        // Heights 1..=rows*2 (each row holds '_' then '|'), scaled between min and max.
        let heights: Vec<usize> = columns
            .iter()
            .map(|(v, _)| {
                if max == min {
                    1
                } else {
                    1 + ((v - min) as f64 / (max - min) as f64 * (rows * 2 - 1) as f64) as usize
                }
            })
            .collect();
        for row in (0..rows).rev() {
            let line: String = heights
                .iter()
                .map(|&h| {
                    let base = row * 2;
                    if h > base + 1 {
                        '#'
                    } else if h == base + 1 {
                        '_'
                    } else {
                        ' '
                    }
                })
                .collect();
            let _ = writeln!(text, "{line}");
        }
        // The age labels, written vertically one character per line.
        let label_len = columns.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
        for i in 0..label_len {
            let line: String = columns
                .iter()
                .map(|(_, l)| l.as_bytes().get(i).map_or(' ', |b| *b as char))
                .collect();
            let _ = writeln!(text, "{line}");
        }
        Some(text)
    }

    /// LATENCY DOCTOR's report, in Redis's words.
    pub fn doctor(&self, threshold_ms: u64, slowlog_slower_than_us: Option<u64>) -> String {
        if threshold_ms == 0 && self.events.is_empty() {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string();
        }
        if self.events.is_empty() {
            return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".to_string();
        }
        let mut text = "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n".to_string();
        for (i, (name, series)) in self.events.iter().enumerate() {
            let n = series.samples.len().max(1) as u64;
            let sum: u64 = series.samples.iter().map(|s| s.latency_ms).sum();
            let avg = sum / n;
            let mad = series
                .samples
                .iter()
                .map(|s| s.latency_ms.abs_diff(avg))
                .sum::<u64>()
                / n;
            let period = match (series.samples.front(), series.samples.back()) {
                (Some(a), Some(b)) if series.samples.len() > 1 => {
                    (b.time_secs - a.time_secs) as f64 / (series.samples.len() - 1) as f64
                }
                _ => 1.0,
            };
            let _ = writeln!(
                text,
                "{}. {name}: {} latency spikes (average {avg}ms, mean deviation {mad}ms, period {period:.2} sec). Worst all time event {}ms.",
                i + 1,
                series.samples.len(),
                series.max_ms
            );
        }
        text.push_str("\nI have a few advices for you:\n\n");
        if slowlog_slower_than_us.is_none_or(|us| us / 1000 >= threshold_ms) {
            let _ = writeln!(text, "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.", threshold_ms * 1000);
        }
        if self.events.contains_key("command") || self.events.contains_key("fast-command") {
            text.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
            text.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
        text
    }
}

/// A sample's age as Redis labels graph columns: seconds, minutes, hours or days.
fn age_label(secs: u64) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 86400 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}d", secs / 86400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aof_operations_are_named_as_redis_names_them() {
        use crate::io::DiskOp;
        let append = DiskOp::Append {
            path: "a".into(),
            bytes: vec![1],
        };
        let fsync = DiskOp::Fsync { path: "a".into() };
        assert_eq!(
            aof_op_events(&append, false, true, true),
            ["aof-write-pending-fsync", "aof-write"]
        );
        assert_eq!(
            aof_op_events(&append, true, false, true),
            ["aof-write-active-child", "aof-write"]
        );
        assert_eq!(
            aof_op_events(&append, true, false, false),
            ["aof-write-alone", "aof-write"]
        );
        assert_eq!(
            aof_op_events(&fsync, true, false, false),
            ["aof-fsync-always"]
        );
        assert!(aof_op_events(&fsync, false, false, false).is_empty());
        let base = DiskOp::Rename {
            from: "temp".into(),
            to: "appendonlydir/appendonly.aof.2.base.rdb".into(),
        };
        assert_eq!(aof_op_events(&base, false, false, false), ["aof-rename"]);
        let manifest = DiskOp::Rename {
            from: "temp".into(),
            to: "appendonlydir/appendonly.aof.manifest".into(),
        };
        assert!(aof_op_events(&manifest, false, false, false).is_empty());
    }

    #[test]
    fn one_sample_per_second_highest_wins_and_bounded() {
        let mut m = LatencyMonitor::default();
        m.add_sample("command", 10, 50);
        m.add_sample("command", 10, 20);
        m.add_sample("command", 10, 70);
        let s = m.events.get("command").map(|s| s.samples.clone());
        assert_eq!(
            s.map(Vec::from),
            Some(vec![Sample {
                time_secs: 10,
                latency_ms: 70
            }])
        );
        for t in 11..400 {
            m.add_sample("command", t, t);
        }
        assert_eq!(m.events.get("command").map(|s| s.samples.len()), Some(160));
        assert_eq!(m.events.get("command").map(|s| s.max_ms), Some(399));
        assert!(m.graph("command", 400).is_some_and(
            |g| g.starts_with("command - high 399 ms, low 240 ms (all time high 399 ms)\n")
        ));
        assert_eq!(m.reset(&["nope".to_string()]), 0);
        assert_eq!(m.reset(&[]), 1);
        assert!(m
            .doctor(1, Some(10_000))
            .starts_with("Dave, no latency spike"));
        assert!(m.doctor(0, Some(10_000)).starts_with("I'm sorry, Dave"));
    }
}
