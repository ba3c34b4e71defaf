//! What the node records about its own commands for operators: per-command counters
//! and latency histograms (INFO commandstats and latencystats, LATENCY HISTOGRAM),
//! error counts by code (INFO errorstats), the slow log and the latency monitor. It
//! stores what `commands::end_call` hands it and reads durations only through the
//! driver's `CommandClock`; it never reads a clock itself, so runs stay deterministic.

pub mod histogram;
pub mod latency;
pub mod slowlog;

use crate::io::{CommandClock, IoId};

use self::histogram::Histogram;

/// Distinct error codes INFO errorstats tracks before it stops (Redis's
/// `ERROR_STATS_NUMBER`); past it, errors still count in `total_error_replies`.
pub const ERROR_STATS_MAX_CODES: usize = 128;

/// One command's counters (Redis's `redisCommand` stats fields).
#[derive(Debug, Default)]
pub struct CommandStat {
    /// `container|sub` for a subcommand, as INFO and LATENCY HISTOGRAM name it.
    pub name: String,
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
    /// Allocated on the first call with `latency-tracking` on.
    pub histogram: Option<Box<Histogram>>,
}

/// Everything this module keeps, owned by `Server`.
#[derive(Default)]
pub struct Observer {
    /// By the command table's stats slot (`CommandTable::slot_names`), so counting a
    /// call is an index, not a hash.
    commands: Vec<CommandStat>,
    /// Error replies by code (`ERR`, `WRONGTYPE` ...), sorted for INFO.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Set when `ERROR_STATS_MAX_CODES` was reached (Redis logs it once and stops).
    pub errors_overflowed: bool,
    pub slowlog: slowlog::SlowLog,
    pub latency: latency::LatencyMonitor,
    clock: Option<Box<dyn CommandClock>>,
    /// The wall-clock second of the input being handled (the node sets it): what
    /// latency samples taken outside a command (eviction) are filed under.
    pub wall_secs: u64,
    /// Disk operations the latency monitor times, by id, with the events their
    /// durations count as (e.g. `aof-write-alone` and `aof-write`). An entry goes when
    /// its completion comes, and every operation gets one, so this holds at most the
    /// operations in flight; nothing is added while the monitor is off.
    timed_disk: std::collections::BTreeMap<IoId, &'static [&'static str]>,
    /// The reading that ended the last command, kept while the same client's pipeline
    /// goes on: it starts the next command, so a pipelined command costs one clock
    /// read, not two. The little work between two commands (parsing the next one)
    /// counts to the next.
    chained_micros: Option<u64>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("commands", &self.commands_sorted().len())
            .field("errors", &self.errors)
            .field("slowlog", &self.slowlog.len())
            .field("clock", &self.clock.is_some())
            .finish()
    }
}

impl Observer {
    pub fn set_clock(&mut self, clock: Box<dyn CommandClock>) {
        self.clock = Some(clock);
    }

    /// The driver's command clock in microseconds; 0 without one.
    #[inline]
    pub fn now_micros(&mut self) -> u64 {
        match self.clock.as_mut() {
            Some(clock) => clock.now_micros(),
            None => 0,
        }
    }

    /// When a command starts: the reading that ended the previous command of the same
    /// batch, or a fresh one.
    #[inline]
    pub fn command_started_micros(&mut self) -> u64 {
        match self.chained_micros.take() {
            Some(t) => t,
            None => self.now_micros(),
        }
    }

    /// When a command ends; the reading may start the next command of the batch.
    #[inline]
    pub fn command_ended_micros(&mut self) -> u64 {
        let t = self.now_micros();
        self.chained_micros = Some(t);
        t
    }

    /// A new batch of input (or anything but the next pipelined command) comes: the
    /// next command reads the clock afresh.
    #[inline]
    pub fn break_chain(&mut self) {
        self.chained_micros = None;
    }

    /// Redis's `latencyAddSampleIfNeeded`: a sample for `event` when the monitor is on
    /// (`threshold_ms` > 0) and `elapsed_us` reaches it, in whole milliseconds as
    /// Redis measures them.
    pub fn latency_sample(
        &mut self,
        event: &str,
        threshold_ms: u64,
        now_secs: u64,
        elapsed_us: u64,
    ) {
        let elapsed_ms = elapsed_us / 1000;
        if threshold_ms > 0 && elapsed_ms >= threshold_ms {
            self.latency.add_sample(event, now_secs, elapsed_ms);
        }
    }

    /// Asks for disk operation `io`'s duration (the driver's `elapsed_us` with its
    /// completion) to count as `events`; nothing is kept while the monitor is off.
    pub fn time_disk(&mut self, io: IoId, events: &'static [&'static str], threshold_ms: u64) {
        if threshold_ms > 0 && !events.is_empty() {
            self.timed_disk.insert(io, events);
        }
    }

    /// A disk completion: samples its duration for the events `time_disk` named.
    pub fn disk_done(&mut self, io: IoId, elapsed_us: u64, threshold_ms: u64, now_secs: u64) {
        if self.timed_disk.is_empty() {
            return;
        }
        if let Some(events) = self.timed_disk.remove(&io) {
            for event in events {
                self.latency_sample(event, threshold_ms, now_secs, elapsed_us);
            }
        }
    }

    /// Operations waiting for their timed completion (a test's bound check).
    pub fn timed_disk_in_flight(&self) -> usize {
        self.timed_disk.len()
    }

    /// One counter set per stats slot, named as the command table names them.
    pub fn set_command_names(&mut self, names: &[String]) {
        self.commands = names
            .iter()
            .map(|name| CommandStat {
                name: name.clone(),
                ..CommandStat::default()
            })
            .collect();
    }

    /// The counters of the command in stats slot `slot`.
    #[inline]
    pub fn command(&mut self, slot: u32) -> Option<&mut CommandStat> {
        self.commands.get_mut(slot as usize)
    }

    /// Every command that was called, rejected or failed (or has a histogram), sorted
    /// by name.
    pub fn commands_sorted(&self) -> Vec<&CommandStat> {
        let mut v: Vec<&CommandStat> = self
            .commands
            .iter()
            .filter(|c| c.calls + c.rejected_calls + c.failed_calls > 0 || c.histogram.is_some())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Counts an error reply under its code (the text up to the first space), as
    /// Redis's `afterErrorReply`; false when the table is full and the code is new.
    pub fn count_error(&mut self, reply_text: &[u8]) -> bool {
        let code_bytes = reply_text
            .split(|b| *b == b' ' || *b == b'\r' || *b == b'\n')
            .next()
            .unwrap_or_default();
        let code = String::from_utf8_lossy(code_bytes);
        if let Some(n) = self.errors.get_mut(code.as_ref()) {
            *n += 1;
            return true;
        }
        if self.errors.len() >= ERROR_STATS_MAX_CODES {
            self.errors_overflowed = true;
            return false;
        }
        self.errors.insert(code.into_owned(), 1);
        true
    }

    /// CONFIG RESETSTAT: counters, histograms and error codes go; the slow log and the
    /// latency monitor stay (Redis resets them with their own commands).
    pub fn reset_stats(&mut self) {
        for c in &mut self.commands {
            *c = CommandStat {
                name: std::mem::take(&mut c.name),
                ..CommandStat::default()
            };
        }
        self.errors.clear();
        self.errors_overflowed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_count_by_code_and_stop_at_the_limit() {
        let mut o = Observer::default();
        assert!(o.count_error(b"ERR wrong number"));
        assert!(o.count_error(b"WRONGTYPE Operation"));
        assert!(o.count_error(b"ERR other"));
        assert_eq!(o.errors.get("ERR"), Some(&2));
        for i in 0..200 {
            o.count_error(format!("E{i} x").as_bytes());
        }
        assert_eq!(o.errors.len(), ERROR_STATS_MAX_CODES);
        assert!(o.errors_overflowed);
        assert!(o.count_error(b"ERR again"));
        o.reset_stats();
        assert!(o.errors.is_empty());
    }

    #[test]
    fn no_clock_reads_zero() {
        let mut o = Observer::default();
        assert_eq!(o.now_micros(), 0);
        struct Ticks(u64);
        impl CommandClock for Ticks {
            fn now_micros(&mut self) -> u64 {
                self.0 += 7;
                self.0
            }
        }
        o.set_clock(Box::new(Ticks(0)));
        assert_eq!(o.now_micros(), 7);
        assert_eq!(o.now_micros(), 14);
        // A pipeline: each command's end starts the next; a new batch reads afresh.
        assert_eq!(o.command_started_micros(), 21);
        assert_eq!(o.command_ended_micros(), 28);
        assert_eq!(o.command_started_micros(), 28);
        assert_eq!(o.command_ended_micros(), 35);
        o.break_chain();
        assert_eq!(o.command_started_micros(), 42);
    }
}
