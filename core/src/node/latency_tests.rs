//! The latency monitor's events outside commands, through the node: disk operations
//! timed by the driver's `elapsed_us` (`aof-fsync-always`, `aof-write*`,
//! `rdb-unlink-temp-file`) and eviction timed by the command clock (`eviction-cycle`,
//! `eviction-del`). Each event is produced by a modelled slow operation and absent
//! after a fast one, with `latency-monitor-threshold 1`.

use crate::io::{CommandClock, DiskError, DiskOp, DiskResult, Effect, Input};
use crate::testkit::Kit;

use super::aof_tests::MemDisk;

/// A node over an in-memory disk whose completions report a modelled duration.
struct TimedDisk {
    kit: Kit,
    disk: MemDisk,
    /// The duration each operation reports, in microseconds.
    elapsed_us: fn(&DiskOp) -> u64,
    /// Fail the first operation this matches.
    fail: Option<fn(&DiskOp) -> bool>,
    /// Hold operations this matches (their completions wait for `release`).
    hold: Option<fn(&DiskOp) -> bool>,
    held: Vec<(crate::io::IoId, DiskOp)>,
}

impl TimedDisk {
    fn new(config: &str, elapsed_us: fn(&DiskOp) -> u64) -> TimedDisk {
        let mut t = TimedDisk {
            kit: Kit::new(config),
            disk: MemDisk::default(),
            elapsed_us,
            fail: None,
            hold: None,
            held: Vec::new(),
        };
        t.kit.input(0, Input::Tick);
        t.settle();
        t.kit.connect(1);
        t
    }

    fn settle(&mut self) {
        loop {
            self.kit.drive();
            let effects = std::mem::take(&mut self.kit.effects);
            let mut ran = false;
            for (_, e) in effects {
                if let Effect::Disk { io, op } = e {
                    if self.hold.is_some_and(|hold| hold(&op)) {
                        self.held.push((io, op));
                        continue;
                    }
                    let result = match self.fail {
                        Some(matches) if matches(&op) => {
                            self.fail = None;
                            DiskResult::Failed(DiskError::Io)
                        }
                        _ => self.disk.run(&op),
                    };
                    let now = self.kit.now;
                    let elapsed_us = (self.elapsed_us)(&op);
                    self.kit.nodes[0].handle(
                        now,
                        Input::Disk {
                            io,
                            result,
                            elapsed_us,
                        },
                    );
                    ran = true;
                }
            }
            if !ran {
                return;
            }
        }
    }

    /// Answers the held operations (and stops holding).
    fn release(&mut self) {
        self.hold = None;
        for (io, op) in std::mem::take(&mut self.held) {
            let result = self.disk.run(&op);
            let now = self.kit.now;
            let elapsed_us = (self.elapsed_us)(&op);
            self.kit.nodes[0].handle(
                now,
                Input::Disk {
                    io,
                    result,
                    elapsed_us,
                },
            );
        }
        self.settle();
    }

    fn cmd(&mut self, line: &str) -> String {
        let args: Vec<&str> = line.split_whitespace().collect();
        self.kit.send(1, &crate::resp::encode_request(&args));
        self.settle();
        self.kit.take(1)
    }

    /// The events LATENCY LATEST lists, with their latest latency in ms.
    fn latest(&mut self) -> Vec<(String, u64)> {
        self.cmd("LATENCY LATEST");
        let node = &self.kit.nodes[0];
        node.server
            .observe
            .latency
            .events
            .iter()
            .filter_map(|(name, s)| s.samples.back().map(|x| (name.clone(), x.latency_ms)))
            .collect()
    }
}

fn has(events: &[(String, u64)], name: &str) -> bool {
    events.iter().any(|(n, _)| n == name)
}

const ALWAYS: &str = "appendonly yes\nappendfsync always\nlatency-monitor-threshold 1";

#[test]
fn a_slow_fsync_under_always_is_aof_fsync_always_a_fast_one_is_not() {
    let mut t = TimedDisk::new(ALWAYS, |op| match op {
        DiskOp::Fsync { .. } => 5_000,
        _ => 0,
    });
    // The boot's fsyncs (base, manifest, directory) are not the writer's.
    assert_eq!(t.latest(), vec![]);
    assert_eq!(t.cmd("SET a 1"), "+OK\r\n");
    assert_eq!(t.latest(), vec![("aof-fsync-always".to_string(), 5)]);
    let reply = t.cmd("LATENCY LATEST");
    assert!(reply.contains("$16\r\naof-fsync-always\r\n"), "{reply}");
    assert!(t
        .cmd("LATENCY DOCTOR")
        .contains("aof-fsync-always: 1 latency spikes"));
    assert_eq!(
        t.kit.nodes[0].server.observe.timed_disk_in_flight(),
        0,
        "every timed operation was answered and forgotten"
    );

    let mut t = TimedDisk::new(ALWAYS, |op| match op {
        DiskOp::Fsync { .. } => 900,
        _ => 0,
    });
    assert_eq!(t.cmd("SET a 1"), "+OK\r\n");
    assert_eq!(t.latest(), vec![], "0.9 ms is under the 1 ms threshold");

    // The monitor off: nothing is recorded, nothing is even kept for it.
    let mut t = TimedDisk::new("appendonly yes\nappendfsync always", |_| 50_000);
    assert_eq!(t.cmd("SET a 1"), "+OK\r\n");
    assert_eq!(t.latest(), vec![]);
}

#[test]
fn a_slow_write_is_aof_write_and_aof_write_alone() {
    let mut t = TimedDisk::new(
        "appendonly yes\nappendfsync everysec\nlatency-monitor-threshold 1",
        |op| match op {
            DiskOp::Append { .. } => 3_000,
            _ => 0,
        },
    );
    assert_eq!(t.latest(), vec![], "the boot's base write is the rewrite's");
    assert_eq!(t.cmd("SET a 1"), "+OK\r\n");
    assert_eq!(
        t.latest(),
        vec![
            ("aof-write".to_string(), 3),
            ("aof-write-alone".to_string(), 3)
        ]
    );
    let mut t = TimedDisk::new(
        "appendonly yes\nappendfsync everysec\nlatency-monitor-threshold 1",
        |op| match op {
            DiskOp::Append { .. } => 100,
            _ => 0,
        },
    );
    assert_eq!(t.cmd("SET a 1"), "+OK\r\n");
    assert_eq!(t.latest(), vec![]);
}

#[test]
fn a_slow_write_while_an_everysec_fsync_runs_is_aof_write_pending_fsync() {
    let mut t = TimedDisk::new(
        "appendonly yes\nappendfsync everysec\nlatency-monitor-threshold 1",
        |op| match op {
            DiskOp::Append { .. } => 2_000,
            _ => 0,
        },
    );
    assert_eq!(t.cmd("SET a 1"), "+OK\r\n");
    t.cmd("LATENCY RESET");
    // The next second's fsync is held: it is in flight when the next write goes.
    t.hold = Some(|op| matches!(op, DiskOp::Fsync { .. }));
    t.kit.advance_ms(1_100);
    t.settle();
    assert_eq!(t.held.len(), 1, "the everysec fsync: {:?}", t.held);
    assert_eq!(t.cmd("SET b 2"), "+OK\r\n");
    t.release();
    assert_eq!(
        t.latest(),
        vec![
            ("aof-write".to_string(), 2),
            ("aof-write-pending-fsync".to_string(), 2)
        ]
    );
}

#[test]
fn a_slow_write_while_a_save_runs_is_aof_write_active_child() {
    let mut t = TimedDisk::new(
        "appendonly yes\nappendfsync everysec\nlatency-monitor-threshold 1",
        |op| match op {
            DiskOp::Append { .. } => 2_000,
            _ => 0,
        },
    );
    t.cmd("SET a 1");
    t.cmd("LATENCY RESET");
    // The BGSAVE's temp file never gets opened: the save stays in progress.
    t.hold = Some(|op| op.path().starts_with("temp-"));
    assert_eq!(t.cmd("BGSAVE"), "+Background saving started\r\n");
    assert!(!t.held.is_empty());
    assert_eq!(t.cmd("SET b 2"), "+OK\r\n");
    assert_eq!(
        t.latest(),
        vec![
            ("aof-write".to_string(), 2),
            ("aof-write-active-child".to_string(), 2)
        ]
    );
    t.release();
}

#[test]
fn a_slow_rename_of_a_rewrites_new_base_is_aof_rename() {
    for (rename_us, expected) in [(7_000u64, true), (300, false)] {
        let elapsed: fn(&DiskOp) -> u64 = if rename_us > 1000 {
            |op| match op {
                DiskOp::Rename { .. } => 7_000,
                _ => 0,
            }
        } else {
            |_| 300
        };
        let mut t = TimedDisk::new(
            "appendonly yes\nappendfsync everysec\nlatency-monitor-threshold 1",
            elapsed,
        );
        t.cmd("SET a 1");
        assert!(
            t.latest().is_empty(),
            "the boot's renames are not a rewrite's"
        );
        assert_eq!(
            t.cmd("BGREWRITEAOF"),
            "+Background append only file rewriting started\r\n"
        );
        for _ in 0..20 {
            t.kit.advance_ms(100);
            t.settle();
        }
        let events = t.latest();
        assert_eq!(has(&events, "aof-rename"), expected, "{events:?}");
        if expected {
            assert_eq!(events, vec![("aof-rename".to_string(), 7)]);
            assert!(t.cmd("LATENCY DOCTOR").contains("AOF atomic rename"));
        }
    }
}

#[test]
fn a_slow_unlink_of_a_failed_saves_temp_file_is_rdb_unlink_temp_file() {
    let slow_remove: fn(&DiskOp) -> u64 = |op| match op {
        DiskOp::Remove { .. } => 4_000,
        _ => 200,
    };
    let fast: fn(&DiskOp) -> u64 = |_| 200;
    for (elapsed_us, expected) in [(slow_remove, true), (fast, false)] {
        let mut t = TimedDisk::new("latency-monitor-threshold 1", elapsed_us);
        t.cmd("SET a 1");
        t.fail = Some(|op| matches!(op, DiskOp::Append { .. } | DiskOp::WriteAt { .. }));
        assert_eq!(t.cmd("BGSAVE"), "+Background saving started\r\n");
        for _ in 0..50 {
            t.kit.advance_ms(10);
            t.settle();
        }
        assert!(t.fail.is_none(), "the save's write was failed");
        let events = t.latest();
        assert_eq!(has(&events, "rdb-unlink-temp-file"), expected, "{events:?}");
        if expected {
            assert_eq!(events, vec![("rdb-unlink-temp-file".to_string(), 4)]);
        }
    }
}

/// A command clock that moves `step_us` at every reading.
struct Steps {
    now_us: u64,
    step_us: u64,
}

impl CommandClock for Steps {
    fn now_micros(&mut self) -> u64 {
        self.now_us += self.step_us;
        self.now_us
    }
}

#[test]
fn slow_eviction_is_eviction_cycle_and_eviction_del_fast_eviction_is_not() {
    for (step_us, expected) in [(1_500u64, true), (0, false)] {
        let mut k = Kit::new("maxmemory-policy allkeys-random\nlatency-monitor-threshold 1");
        k.connect(1);
        assert_eq!(k.cmd(1, "DEBUG POPULATE 20000"), "+OK\r\n");
        k.cmd(1, "CONFIG SET maxmemory 1mb");
        k.nodes[0].set_command_clock(Box::new(Steps { now_us: 0, step_us }));
        assert_eq!(k.cmd(1, "SET x 1"), "+OK\r\n");
        assert!(k.nodes[0].server.stats.evicted_keys > 0);
        let events = &k.nodes[0].server.observe.latency.events;
        for name in ["eviction-cycle", "eviction-del"] {
            assert_eq!(events.contains_key(name), expected, "{name}: {events:?}");
        }
        if expected {
            // One deletion spans two readings (1.5 ms); the cycle many more.
            let del = events.get("eviction-del").map(|s| s.max_ms);
            assert_eq!(del, Some(1));
            assert!(events.get("eviction-cycle").is_some_and(|s| s.max_ms > 10));
        }
    }
}

#[test]
fn no_eviction_events_with_the_monitor_off() {
    let mut k = Kit::new("maxmemory-policy allkeys-random");
    k.connect(1);
    k.cmd(1, "DEBUG POPULATE 20000");
    k.cmd(1, "CONFIG SET maxmemory 1mb");
    k.nodes[0].set_command_clock(Box::new(Steps {
        now_us: 0,
        step_us: 5_000,
    }));
    k.cmd(1, "SET x 1");
    assert!(k.nodes[0].server.stats.evicted_keys > 0);
    assert!(k.nodes[0].server.observe.latency.events.is_empty());
}

/// Runs a BGSAVE to its end over `t`'s disk, ticking the node between disk answers.
fn bgsave_to_the_end(t: &mut TimedDisk) {
    assert_eq!(t.cmd("BGSAVE"), "+Background saving started\r\n");
    for _ in 0..10_000 {
        if !t.kit.nodes[0].server.persist.bgsave_in_progress {
            return;
        }
        let now = t.kit.now;
        t.kit.nodes[0].handle(now, Input::Tick);
        t.settle();
    }
    panic!("the BGSAVE did not end");
}

#[test]
fn a_slow_snapshot_slice_is_snapshot_slice_a_fast_one_is_not() {
    for (step_us, expected) in [(1_500u64, true), (0, false)] {
        let mut t = TimedDisk::new("latency-monitor-threshold 1", |_| 0);
        assert_eq!(t.cmd("DEBUG POPULATE 3000"), "+OK\r\n");
        t.kit.nodes[0].set_command_clock(Box::new(Steps { now_us: 0, step_us }));
        bgsave_to_the_end(&mut t);
        let events = t.latest();
        assert_eq!(has(&events, "snapshot-slice"), expected, "{events:?}");
        if expected {
            // A step is timed between two readings: 1.5 ms, counted as 1.
            assert!(
                events.contains(&("snapshot-slice".to_string(), 1)),
                "{events:?}"
            );
        }
    }
}
