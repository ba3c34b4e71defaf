//! Redis 7.0's coordinated FAILOVER as plain state: what was asked (a target or any
//! replica, a timeout, FORCE), where it is (`master_failover_state`), and the rule
//! that decides, each time the node looks, whether to wait, give up or hand over
//! (Redis's `updateFailoverStatus`). It reads no clock (the node hands `now`), sends
//! nothing and pauses nobody: the node (`node/repl_failover.rs`) does those.

/// Redis's `failover_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailoverState {
    #[default]
    NoFailover,
    /// Writes are paused; waiting for a replica to ACK the master's whole stream.
    WaitForSync,
    /// The master demoted itself and asks the target `PSYNC ... FAILOVER`.
    InProgress,
}

impl FailoverState {
    /// INFO's `master_failover_state` (Redis's `getFailoverStateString`).
    pub fn info_name(self) -> &'static str {
        match self {
            FailoverState::NoFailover => "no-failover",
            FailoverState::WaitForSync => "waiting-for-sync",
            FailoverState::InProgress => "failover-in-progress",
        }
    }
}

/// A replica as the failover sees it: its address (`ip` as INFO shows it, its
/// `listening-port`) and its last ACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub ip: String,
    pub port: u16,
    pub ack_offset: u64,
}

/// What the node does next (Redis's `updateFailoverStatus` outcomes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing yet.
    Wait,
    /// Give up: unpause, back to no-failover; the reason ends the log line.
    Abort(&'static str),
    /// Become a replica of the target. `forced`: the timeout passed and FORCE was
    /// given (the target may lack some of the stream).
    HandOver {
        host: String,
        port: u16,
        forced: bool,
    },
}

/// The failover in progress, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failover {
    pub state: FailoverState,
    /// `TO host port`, or the replica found caught up.
    pub target: Option<(String, u16)>,
    /// When TIMEOUT ends (monotonic ms); None without TIMEOUT.
    pub end_mono_ms: Option<u64>,
    pub force: bool,
}

impl Failover {
    pub fn in_progress(&self) -> bool {
        self.state != FailoverState::NoFailover
    }

    /// FAILOVER accepted: writes are paused by the node from now on.
    pub fn start(&mut self, target: Option<(String, u16)>, end_mono_ms: Option<u64>, force: bool) {
        *self = Failover {
            state: FailoverState::WaitForSync,
            target,
            end_mono_ms,
            force,
        };
    }

    /// Redis's `clearFailoverState` (the node unpauses).
    pub fn clear(&mut self) {
        *self = Failover::default();
    }

    /// The log line of an abort (Redis's `abortFailover`).
    pub fn abort_line(&self, reason: &str) -> String {
        match &self.target {
            Some((host, port)) => format!("FAILOVER to {host}:{port} aborted: {reason}"),
            None => format!("FAILOVER to any replica aborted: {reason}"),
        }
    }

    /// Redis's `updateFailoverStatus`, while waiting for sync: the timeout first
    /// (hand over when FORCE, else abort), then a replica whose ACK equals
    /// `master_repl_offset` (the target, or the first such replica). `skip_catchup`
    /// is the planted mutant `failover-skips-catchup` (any ACK will do).
    pub fn decide(
        &mut self,
        now_mono_ms: u64,
        replicas: &[Candidate],
        master_repl_offset: u64,
        skip_catchup: bool,
    ) -> Decision {
        if self.state != FailoverState::WaitForSync {
            return Decision::Wait;
        }
        let caught_up = |c: &Candidate| c.ack_offset == master_repl_offset || skip_catchup;
        if self.end_mono_ms.is_some_and(|end| end <= now_mono_ms) {
            if !self.force {
                return Decision::Abort("Replica never caught up before timeout");
            }
            let Some((host, port)) = self.target.clone() else {
                // FORCE requires TO (FAILOVER refuses it without): never here.
                return Decision::Abort("Replica never caught up before timeout");
            };
            self.state = FailoverState::InProgress;
            return Decision::HandOver {
                host,
                port,
                forced: true,
            };
        }
        let found = match &self.target {
            Some((host, port)) => replicas
                .iter()
                .find(|c| c.ip.eq_ignore_ascii_case(host) && c.port == *port)
                .filter(|c| caught_up(c)),
            None => replicas.iter().find(|c| caught_up(c)),
        };
        let Some(found) = found else {
            return Decision::Wait;
        };
        let (host, port) = self
            .target
            .clone()
            .unwrap_or_else(|| (found.ip.clone(), found.port));
        self.target = Some((host.clone(), port));
        self.state = FailoverState::InProgress;
        Decision::HandOver {
            host,
            port,
            forced: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(ip: &str, port: u16, ack: u64) -> Candidate {
        Candidate {
            ip: ip.into(),
            port,
            ack_offset: ack,
        }
    }

    #[test]
    fn waits_for_an_exact_ack_then_hands_over_to_that_replica() {
        let mut f = Failover::default();
        f.start(None, None, false);
        let rs = [replica("10.0.0.1", 7001, 90), replica("10.0.0.2", 7002, 99)];
        assert_eq!(f.decide(5, &rs, 100, false), Decision::Wait);
        assert_eq!(f.state, FailoverState::WaitForSync);
        let rs = [
            replica("10.0.0.1", 7001, 90),
            replica("10.0.0.2", 7002, 100),
        ];
        assert_eq!(
            f.decide(6, &rs, 100, false),
            Decision::HandOver {
                host: "10.0.0.2".into(),
                port: 7002,
                forced: false
            }
        );
        assert_eq!(f.state.info_name(), "failover-in-progress");
        assert_eq!(f.target, Some(("10.0.0.2".into(), 7002)));
    }

    #[test]
    fn a_named_target_is_the_only_one_that_counts() {
        let mut f = Failover::default();
        f.start(Some(("10.0.0.1".into(), 7001)), None, false);
        let rs = [
            replica("10.0.0.1", 7001, 90),
            replica("10.0.0.2", 7002, 100),
        ];
        assert_eq!(f.decide(5, &rs, 100, false), Decision::Wait);
        // The mutant hands over without the catch-up.
        assert!(matches!(
            f.decide(5, &rs, 100, true),
            Decision::HandOver { forced: false, .. }
        ));
    }

    #[test]
    fn the_timeout_aborts_or_forces() {
        let rs = [replica("10.0.0.1", 7001, 90)];
        let mut f = Failover::default();
        f.start(Some(("10.0.0.1".into(), 7001)), Some(50), false);
        assert_eq!(f.decide(49, &rs, 100, false), Decision::Wait);
        assert_eq!(
            f.decide(50, &rs, 100, false),
            Decision::Abort("Replica never caught up before timeout")
        );
        assert_eq!(
            f.abort_line("Failover manually aborted"),
            "FAILOVER to 10.0.0.1:7001 aborted: Failover manually aborted"
        );
        let mut f = Failover::default();
        f.start(Some(("10.0.0.1".into(), 7001)), Some(50), true);
        assert_eq!(
            f.decide(50, &rs, 100, false),
            Decision::HandOver {
                host: "10.0.0.1".into(),
                port: 7001,
                forced: true
            }
        );
        f.clear();
        assert_eq!(f.state.info_name(), "no-failover");
        assert_eq!(
            f.abort_line("x"),
            "FAILOVER to any replica aborted: x".to_string()
        );
    }
}
