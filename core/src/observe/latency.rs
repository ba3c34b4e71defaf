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

    /// LATENCY DOCTOR's report, in Redis's words (`createLatencyReport`): one line per
    /// event, then the advice its events call for, in Redis's order. (Redis's advice
    /// on transparent huge pages needs the process's memory map, which the core has
    /// not: it is left out.)
    pub fn doctor(&self, settings: &DoctorSettings) -> String {
        let threshold_ms = settings.threshold_ms;
        if threshold_ms == 0 && self.events.is_empty() {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string();
        }
        if self.events.is_empty() {
            return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".to_string();
        }
        let mut text = "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n".to_string();
        let mut advice = Advice::default();
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
            // Redis's `analyzeLatencyForEvent`: seconds since the oldest sample (at
            // least 1), per sample.
            let oldest_secs = series.samples.iter().map(|s| s.time_secs).min();
            let span_secs = oldest_secs.map_or(1, |t| settings.now_secs.saturating_sub(t).max(1));
            let period = span_secs as f64 / n as f64;
            let _ = writeln!(
                text,
                "{}. {name}: {} latency spikes (average {avg}ms, mean deviation {mad}ms, period {period:.2} sec). Worst all time event {}ms.",
                i + 1,
                series.samples.len(),
                series.max_ms
            );
            advice.note(name, settings);
        }
        if advice.count == 0 {
            text.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
            return text;
        }
        text.push_str("\nI have a few advices for you:\n\n");
        advice.write(&mut text, settings);
        text
    }
}

/// What LATENCY DOCTOR's advice depends on besides the events.
#[derive(Debug, Clone, Copy, Default)]
pub struct DoctorSettings {
    /// The wall clock now, in seconds (a sample's period is counted up to it).
    pub now_secs: u64,
    pub threshold_ms: u64,
    /// `slowlog-log-slower-than`; None when negative (the slow log is off).
    pub slowlog_slower_than_us: Option<u64>,
    pub appendfsync_always: bool,
    pub hz: u32,
}

/// Redis's `advise_*` flags.
#[derive(Debug, Default)]
struct Advice {
    count: usize,
    slowlog_enabled: bool,
    slowlog_tuning: bool,
    slowlog_inspect: bool,
    disk_contention: bool,
    scheduler: bool,
    data_writeback: bool,
    no_appendfsync: bool,
    local_disk: bool,
    ssd: bool,
    write_load_info: bool,
    hz: bool,
    large_objects: bool,
    mass_eviction: bool,
    relax_fsync_policy: bool,
}

impl Advice {
    /// The advice event `name` calls for (Redis counts advices as it goes; only
    /// whether there are any matters: events without advice, such as `aof-write`,
    /// leave "not able to suggest any easy fix").
    fn note(&mut self, name: &str, settings: &DoctorSettings) {
        let advised = match name {
            "command" => {
                match settings.slowlog_slower_than_us {
                    None => self.slowlog_enabled = true,
                    Some(us) if us / 1000 > settings.threshold_ms => self.slowlog_tuning = true,
                    Some(_) => {}
                }
                self.slowlog_inspect = true;
                self.large_objects = true;
                true
            }
            "fast-command" => {
                self.scheduler = true;
                true
            }
            "aof-write-pending-fsync" => {
                self.local_disk = true;
                self.disk_contention = true;
                self.ssd = true;
                self.data_writeback = true;
                true
            }
            "aof-write-active-child" => {
                self.no_appendfsync = true;
                self.data_writeback = true;
                self.ssd = true;
                true
            }
            "aof-write-alone" => {
                self.local_disk = true;
                self.data_writeback = true;
                self.ssd = true;
                true
            }
            "aof-fsync-always" => {
                self.relax_fsync_policy = true;
                true
            }
            "aof-fstat" | "rdb-unlink-temp-file" => {
                self.disk_contention = true;
                self.local_disk = true;
                true
            }
            "aof-rewrite-diff-write" | "aof-rename" => {
                self.write_load_info = true;
                self.data_writeback = true;
                self.ssd = true;
                self.local_disk = true;
                true
            }
            "expire-cycle" => {
                self.hz = true;
                self.large_objects = true;
                true
            }
            "eviction-del" => {
                self.large_objects = true;
                true
            }
            "eviction-cycle" => {
                self.mass_eviction = true;
                true
            }
            _ => false,
        };
        self.count += usize::from(advised);
    }

    fn write(&self, text: &mut String, s: &DoctorSettings) {
        let threshold_us = s.threshold_ms.saturating_mul(1000);
        if self.slowlog_enabled {
            let _ = writeln!(text, "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {threshold_us}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.");
        }
        if self.slowlog_tuning {
            let _ = writeln!(text, "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {threshold_us}'.");
        }
        if self.slowlog_inspect {
            text.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if self.scheduler {
            text.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if self.local_disk {
            text.push_str("- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n");
        }
        if self.ssd {
            text.push_str("- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n");
        }
        if self.data_writeback {
            text.push_str("- Mounting ext3/4 filesystems with data=writeback can provide a performance boost compared to data=ordered, however this mode of operation provides less guarantees, and sometimes it can happen that after a hard crash the AOF file will have a half-written command at the end and will require to be repaired before Redis restarts.\n");
        }
        if self.disk_contention {
            text.push_str("- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n");
        }
        if self.no_appendfsync {
            text.push_str("- Assuming from the point of view of data safety this is viable in your environment, you could try to enable the 'no-appendfsync-on-rewrite' option, so that fsync will not be performed while there is a child rewriting the AOF file or producing an RDB file (the moment where there is high disk contention).\n");
        }
        if self.relax_fsync_policy && s.appendfsync_always {
            text.push_str("- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n");
        }
        if self.write_load_info {
            text.push_str("- Latency during the AOF atomic rename operation or when the final difference is flushed to the AOF file at the end of the rewrite, sometimes is caused by very high write load, causing the AOF buffer to get very large. If possible try to send less commands to accomplish the same work, or use Lua scripts to group multiple operations into a single EVALSHA call.\n");
        }
        if self.hz && s.hz < 100 {
            text.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
        }
        if self.large_objects {
            text.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
        if self.mass_eviction {
            text.push_str("- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n");
        }
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
    fn doctor_gives_redis_advice_for_disk_and_eviction_events() {
        let mut m = LatencyMonitor::default();
        m.add_sample("aof-fsync-always", 10, 12);
        m.add_sample("eviction-cycle", 10, 3);
        let always = DoctorSettings {
            now_secs: 10,
            threshold_ms: 1,
            slowlog_slower_than_us: Some(10_000),
            appendfsync_always: true,
            hz: 10,
        };
        let report = m.doctor(&always);
        assert!(report.contains("1. aof-fsync-always: 1 latency spikes (average 12ms, mean deviation 0ms, period 1.00 sec). Worst all time event 12ms.\n2. eviction-cycle: 1 latency spikes"), "{report}");
        assert!(report.contains(
            "\nI have a few advices for you:\n\n- Your fsync policy is set to 'always'."
        ));
        assert!(report.contains("- Sudden changes to the 'maxmemory' setting"));
        assert!(!report.contains("Slow Log"), "no command event: {report}");
        // Redis's period: seconds from the oldest sample to now (at least 1) per sample.
        let later = DoctorSettings {
            now_secs: 16,
            ..always
        };
        assert!(m
            .doctor(&later)
            .contains("aof-fsync-always: 1 latency spikes (average 12ms, mean deviation 0ms, period 6.00 sec)"));
        // The fsync advice only while the policy is still `always`.
        let everysec = DoctorSettings {
            appendfsync_always: false,
            ..always
        };
        assert!(!m.doctor(&everysec).contains("fsync policy"));
        // An event Redis has no advice for.
        let mut m = LatencyMonitor::default();
        m.add_sample("aof-write", 10, 2);
        assert!(m
            .doctor(&always)
            .ends_with("I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n"));
        // command: slow log off, or slower than the threshold.
        let mut m = LatencyMonitor::default();
        m.add_sample("command", 10, 2);
        let off = DoctorSettings {
            slowlog_slower_than_us: None,
            ..always
        };
        assert!(m.doctor(&off).contains("Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than 1000'"));
        assert!(m.doctor(&always).contains("Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than 1000'."));
    }

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
        let settings = DoctorSettings {
            threshold_ms: 1,
            slowlog_slower_than_us: Some(10_000),
            ..DoctorSettings::default()
        };
        assert!(m.doctor(&settings).starts_with("Dave, no latency spike"));
        let off = DoctorSettings {
            threshold_ms: 0,
            ..settings
        };
        assert!(m.doctor(&off).starts_with("I'm sorry, Dave"));
    }
}
