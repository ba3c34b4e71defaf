//! SIGHUP: re-reads the config file the server was started with and applies what
//! changed in it — beyond Redis, which ignores SIGHUP. The file is read through the
//! driver (`Effect::Disk` `Read` of its absolute path); directives whose value in the
//! file changed since it was last read are set as one CONFIG SET would set them (all
//! or nothing, a new `bind`/`port` through `Effect::Listen`), and the ones that cannot
//! change at run time are logged as needing a restart. Values changed by CONFIG SET
//! and not in the file are left as they are.

use crate::config::{Config, Mutability};
use crate::io::{DiskOp, DiskResult, Effect, IoId, LogLevel, Now};
use crate::server::{ListenOutcome, PendingListen};

use super::Node;

/// A config file bigger than this is not read back (Redis has no limit; one this big
/// is a mistake, and the read is one allocation).
const CONFIG_FILE_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Directives a reload never changes even where CONFIG SET may: `dir` is where the
/// process and its disk thread live (changing it under the persistence code is a
/// restart's job).
const RESTART_ONLY: &[&str] = &["dir"];

/// What a reload compares against.
#[derive(Debug, Default)]
pub struct ReloadState {
    /// The config file's absolute path (empty: started without one).
    pub path: String,
    /// The config before any file: Redis's defaults and keel's own.
    pub base: Option<Box<Config>>,
    /// What the file said when last read (the base with the file applied).
    pub file: Option<Box<Config>>,
    /// The read in flight.
    pub pending: Option<IoId>,
}

impl Node {
    /// Tells the node which file it was started with, the config before it and what
    /// the file said, so SIGHUP can reload it.
    pub fn set_config_file(&mut self, path: String, base: Config, file: Config) {
        self.reload = ReloadState {
            path,
            base: Some(Box::new(base)),
            file: Some(Box::new(file)),
            pending: None,
        };
    }

    /// SIGHUP: asks the driver for the file.
    pub(super) fn start_reload(&mut self) {
        if self.reload.path.is_empty() || self.reload.base.is_none() {
            self.server.log(
                LogLevel::Notice,
                "SIGHUP: the server is running without a config file, nothing to reload".into(),
            );
            return;
        }
        if self.reload.pending.is_some() {
            return;
        }
        let path = self.reload.path.clone();
        self.server.log(
            LogLevel::Notice,
            format!("SIGHUP: reloading the configuration file {path}"),
        );
        let io = self.server.draw_io_id();
        self.reload.pending = Some(io);
        self.server.effects.push_back(Effect::Disk {
            io,
            op: DiskOp::Read {
                path,
                offset: 0,
                len: CONFIG_FILE_MAX_BYTES,
            },
        });
    }

    /// The file's bytes (or why not): parse, compare, apply. True when `io` was ours.
    pub(super) fn reload_read_done(&mut self, now: Now, io: IoId, result: &DiskResult) -> bool {
        if self.reload.pending != Some(io) {
            return false;
        }
        self.reload.pending = None;
        let text = match result {
            DiskResult::Done { read } => String::from_utf8_lossy(read).into_owned(),
            DiskResult::Failed(e) => {
                let path = &self.reload.path;
                self.server.log(
                    LogLevel::Warning,
                    format!("Config reload failed: can't read {path} ({e:?}); nothing changed"),
                );
                return true;
            }
        };
        let Some(mut fresh) = self.reload.base.as_deref().cloned() else {
            return true;
        };
        // Includes are not followed on a reload (the driver reads one file).
        let mut no_includes = |p: &str| Err(format!("include {p} is not re-read on SIGHUP"));
        if let Err(e) = fresh.apply_text_with_includes(&text, &mut no_includes) {
            self.server.log(
                LogLevel::Warning,
                format!("Config reload failed, nothing changed: {e}"),
            );
            return true;
        }
        self.apply_reload(now, fresh);
        true
    }

    fn apply_reload(&mut self, _now: Now, fresh: Config) {
        let Some(previous) = self.reload.file.as_deref() else {
            return;
        };
        let changes = previous.differences(&fresh);
        let mut settable: Vec<(&'static str, String)> = Vec::new();
        for (name, value, mutability) in changes {
            if mutability == Mutability::Immutable || RESTART_ONLY.contains(&name) {
                self.server.log(
                    LogLevel::Warning,
                    format!("Config reload: '{name}' changed in the file to '{value}' but can't change at run time; restart the server to apply it"),
                );
            } else {
                settable.push((name, value));
            }
        }
        let pairs: Vec<(&[u8], &[u8])> = settable
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        let next = match self.server.config.prepare_set_from_file(&pairs) {
            Ok(next) => next,
            Err(e) => {
                self.server.log(
                    LogLevel::Warning,
                    format!(
                        "Config reload failed, nothing changed: {}",
                        String::from_utf8_lossy(&e)
                    ),
                );
                return;
            }
        };
        for (name, value) in &settable {
            self.server.log(
                LogLevel::Notice,
                format!("Config reload: '{name}' set to '{value}'"),
            );
        }
        self.reload.file = Some(Box::new(fresh));
        if self.server.config.listener_differs(&next) && next.settings().port != 0 {
            if self.server.pending_listen.is_some() {
                self.server.log(
                    LogLevel::Warning,
                    "Config reload failed: a change of bind or port is in progress".into(),
                );
                return;
            }
            let io = self.server.draw_io_id();
            let error = self.server.config.listen_failed_error(&next, &pairs);
            let s = next.settings();
            let effect = Effect::Listen {
                io,
                bind: s
                    .bind
                    .iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect(),
                port: s.port,
                backlog: s.tcp_backlog,
            };
            self.server.pending_listen = Some(PendingListen {
                io,
                // No client waits: the answer only commits (or logs).
                conn: crate::io::ConnId::MAX,
                outcome: ListenOutcome::Commit(Box::new(next)),
                error,
            });
            self.server.effects.push_back(effect);
            return;
        }
        self.server.config = next;
        self.config_changed();
    }
}
