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

/// Directives a reload never changes even where CONFIG SET may (none now: `dir` goes
/// through the driver's chdir as CONFIG SET's does).
const RESTART_ONLY: &[&str] = &[];

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
        let moves_listeners =
            self.server.config.listener_differs(&next) && next.settings().port != 0;
        if next.settings().dir != self.server.config.settings().dir {
            if moves_listeners || self.server.pending_dir.is_some() {
                self.server.log(
                    LogLevel::Warning,
                    "Config reload failed: dir can't change together with bind or port, nor while another change of dir is in progress".into(),
                );
                return;
            }
            let io = self.server.draw_io_id();
            let path = String::from_utf8_lossy(&next.settings().dir).into_owned();
            self.server.pending_dir = Some(crate::server::PendingDir {
                io,
                conn: None,
                previous: self.server.config.settings().dir.clone(),
                next: Some(Box::new(next)),
                name: b"dir".to_vec(),
            });
            self.server.effects.push_back(Effect::Disk {
                io,
                op: DiskOp::ChangeDir { path },
            });
            return;
        }
        if moves_listeners {
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

impl Node {
    /// The driver's answer to a CONFIG SET of `dir` (`DiskOp::ChangeDir`): commits the
    /// CONFIG SET with the directory made absolute (what CONFIG GET dir shows, as
    /// Redis's getcwd) or fails it with chdir's error, and answers the client. True
    /// when `io` was that change's.
    pub(super) fn config_dir_done(&mut self, now: Now, io: IoId, result: &DiskResult) -> bool {
        let Some(pending) = self.server.pending_dir.take_if(|p| p.io == io) else {
            return false;
        };
        let reloading = pending.conn.is_none() && pending.next.is_some();
        let reply: Result<(), Vec<u8>> = match result {
            DiskResult::Done { read } => {
                let absolute = if read.is_empty() {
                    None
                } else {
                    Some(read.as_slice())
                };
                let mut next = pending.next.map(|c| *c);
                let config = next.as_mut().unwrap_or(&mut self.server.config);
                if let Some(absolute) = absolute {
                    let pairs: [(&[u8], &[u8]); 1] = [(b"dir", absolute)];
                    // The absolute form of a directory just accepted: cannot fail, and
                    // a failure only leaves the path as given.
                    if let Ok(absolute) = config.prepare_set_from_file(&pairs) {
                        *config = absolute;
                    }
                }
                if let Some(next) = next {
                    self.server.config = next;
                }
                self.config_changed();
                self.server.log(
                    LogLevel::Notice,
                    format!(
                        "Working directory changed to {}",
                        String::from_utf8_lossy(&self.server.config.settings().dir)
                    ),
                );
                Ok(())
            }
            DiskResult::Failed(e) => {
                if pending.next.is_none() {
                    let pairs: [(&[u8], &[u8]); 1] = [(b"dir", &pending.previous)];
                    if let Ok(back) = self.server.config.prepare_set_from_file(&pairs) {
                        self.server.config = back;
                    }
                    self.config_changed();
                    self.server.log(
                        LogLevel::Warning,
                        format!(
                            "CONFIG SET dir inside EXEC failed ({}); dir is back to {}",
                            strerror(*e),
                            String::from_utf8_lossy(&pending.previous)
                        ),
                    );
                }
                Err([
                    &b"ERR CONFIG SET failed (possibly related to argument '"[..],
                    crate::util::c_str(&pending.name),
                    b"') - ",
                    strerror(*e).as_bytes(),
                ]
                .concat())
            }
        };
        let Some(conn) = pending.conn else {
            if let (Err(error), true) = (&reply, reloading) {
                // A SIGHUP reload's: nobody to answer, so it is logged, and the file is
                // remembered with the old dir so that the next SIGHUP tries again.
                let pairs: [(&[u8], &[u8]); 1] = [(b"dir", &pending.previous)];
                if let Some(file) = self.reload.file.as_deref_mut() {
                    if let Ok(back) = file.prepare_set_from_file(&pairs) {
                        *file = back;
                    }
                }
                self.server.log(
                    LogLevel::Warning,
                    format!(
                        "Config reload failed, nothing changed: {}",
                        String::from_utf8_lossy(error)
                    ),
                );
            }
            return true;
        };
        if let Err(error) = &reply {
            self.server.stats.total_error_replies += 1;
            self.server.observe.count_error(error);
        }
        let answered = self.clients.table.with_mut(&conn, |c| {
            c.awaiting_driver = false;
            match &reply {
                Ok(()) => c.out.ok(),
                Err(error) => c.out.error_bytes(error),
            }
        });
        if answered.is_some() {
            self.on_data(now, conn, &[]);
        }
        true
    }
}

/// The directory holding `path` (Redis's `fsyncFileDir`): its parent for an absolute
/// path, "." (the node's `dir`) for a bare name.
fn parent_dir(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) => "/".to_string(),
        Some((dir, _)) => dir.to_string(),
        None => ".".to_string(),
    }
}

/// Redis's `strerror` text for what the driver reports.
fn strerror(e: crate::io::DiskError) -> &'static str {
    match e {
        crate::io::DiskError::Io => "Input/output error",
        crate::io::DiskError::NoSpace => "No space left on device",
        crate::io::DiskError::NotFound => "No such file or directory",
        crate::io::DiskError::NotADirectory => "Not a directory",
        crate::io::DiskError::PermissionDenied => "Permission denied",
    }
}

impl Node {
    /// A disk completion for CONFIG REWRITE: runs its next step (read the file, open
    /// the temporary file, write, fsync, close, rename over the file; on a failure
    /// remove the temporary file) and answers the client at the end. True when `io`
    /// was the rewrite's.
    pub(super) fn rewrite_step(&mut self, now: Now, io: IoId, result: &DiskResult) -> bool {
        use crate::server::RewriteStep;
        let Some(mut job) = self.server.rewrite.take_if(|r| r.io == io) else {
            return false;
        };
        let outcome: Result<Vec<u8>, crate::io::DiskError> = match result {
            DiskResult::Done { read } => Ok(read.clone()),
            DiskResult::Failed(e) => Err(*e),
        };
        let next = match (&job.step, outcome) {
            // A vanished file is rewritten whole, as Redis does (ENOENT reads empty).
            (RewriteStep::Reading, Ok(read)) => Some(self.rewrite_content(&read)),
            (RewriteStep::Reading, Err(crate::io::DiskError::NotFound)) => {
                Some(self.rewrite_content(b""))
            }
            (RewriteStep::Reading, Err(e)) => {
                self.finish_rewrite(now, job.conn, Err(e));
                return true;
            }
            (RewriteStep::Cleaning, _) => {
                let failed = job.failed.unwrap_or(crate::io::DiskError::Io);
                self.finish_rewrite(now, job.conn, Err(failed));
                return true;
            }
            (RewriteStep::SyncingDir, result) => {
                // The rename happened: there is no temporary file left to remove.
                self.finish_rewrite(now, job.conn, result.map(|_| ()));
                return true;
            }
            (_, Err(e)) => {
                job.failed = Some(e);
                job.step = RewriteStep::Cleaning;
                self.submit_rewrite_op(
                    job,
                    DiskOp::Remove {
                        path: String::new(),
                    },
                );
                return true;
            }
            (_, Ok(_)) => None,
        };
        let tmp = job.tmp.clone();
        let (step, op) = match (
            std::mem::replace(&mut job.step, RewriteStep::Cleaning),
            next,
        ) {
            (RewriteStep::Reading, Some(content)) => (
                RewriteStep::Opening(content),
                DiskOp::Open {
                    path: tmp,
                    create: true,
                    truncate: true,
                },
            ),
            (RewriteStep::Opening(content), _) => (
                RewriteStep::Writing,
                DiskOp::Append {
                    path: tmp,
                    bytes: content,
                },
            ),
            (RewriteStep::Writing, _) => (RewriteStep::Syncing, DiskOp::Fsync { path: tmp }),
            (RewriteStep::Syncing, _) => (RewriteStep::Closing, DiskOp::Close { path: tmp }),
            (RewriteStep::Closing, _) => (
                RewriteStep::Renaming,
                DiskOp::Rename {
                    from: tmp,
                    to: job.path.clone(),
                },
            ),
            (RewriteStep::Renaming, _) => (
                RewriteStep::SyncingDir,
                DiskOp::Fsync {
                    path: parent_dir(&job.path),
                },
            ),
            (other, _) => (other, DiskOp::Remove { path: tmp }),
        };
        job.step = step;
        self.submit_rewrite_op(job, op);
        true
    }

    /// The new file text over the old one's bytes.
    fn rewrite_content(&self, old: &[u8]) -> Vec<u8> {
        let old = String::from_utf8_lossy(old);
        crate::config_rewrite::rewrite(&self.server.config, &old).into_bytes()
    }

    /// Sends the job's next operation (a `Remove` with no path removes its temporary
    /// file).
    fn submit_rewrite_op(&mut self, mut job: crate::server::Rewrite, op: DiskOp) {
        let op = match op {
            DiskOp::Remove { path } if path.is_empty() => DiskOp::Remove {
                path: job.tmp.clone(),
            },
            other => other,
        };
        let io = self.server.draw_io_id();
        job.io = io;
        self.server.rewrite = Some(job);
        self.server.effects.push_back(Effect::Disk { io, op });
    }

    fn finish_rewrite(
        &mut self,
        now: Now,
        conn: Option<crate::io::ConnId>,
        result: Result<(), crate::io::DiskError>,
    ) {
        match result {
            Ok(()) => self.server.log(
                LogLevel::Warning,
                "CONFIG REWRITE executed with success.".into(),
            ),
            Err(e) => self.server.log(
                LogLevel::Warning,
                format!("CONFIG REWRITE failed: {}", strerror(e)),
            ),
        }
        let Some(conn) = conn else {
            return;
        };
        let answered = self.clients.table.with_mut(&conn, |c| {
            c.awaiting_driver = false;
            match result {
                Ok(()) => c.out.ok(),
                Err(e) => c
                    .out
                    .error(&format!("ERR Rewriting config file: {}", strerror(e))),
            }
        });
        if let Err(e) = result {
            self.server.stats.total_error_replies += 1;
            let text = format!("ERR Rewriting config file: {}", strerror(e));
            self.server.observe.count_error(text.as_bytes());
        }
        if answered.is_some() {
            self.on_data(now, conn, &[]);
        }
    }
}

#[cfg(test)]
mod dir_tests {
    use crate::io::{DiskError, DiskOp, DiskResult, Effect, Input, IoId};
    use crate::testkit::Kit;

    /// The one `ChangeDir` the node asked for since the last look.
    fn change_dir(k: &mut Kit) -> Option<(IoId, String)> {
        let effects = std::mem::take(&mut k.effects);
        effects.into_iter().find_map(|(_, e)| match e {
            Effect::Disk {
                io,
                op: DiskOp::ChangeDir { path },
            } => Some((io, path)),
            _ => None,
        })
    }

    fn answer(k: &mut Kit, io: IoId, result: DiskResult) {
        k.input(
            0,
            Input::Disk {
                io,
                result,
                elapsed_us: 0,
            },
        );
    }

    #[test]
    fn config_set_dir_waits_for_the_chdir_and_commits_or_fails_whole() {
        let mut k = Kit::new("enable-protected-configs yes");
        k.connect(1);
        // The client's next command waits behind the answer.
        k.send_lines(1, "CONFIG SET dir rel maxmemory 100mb;PING");
        assert_eq!(k.take(1), "");
        let (io, path) = change_dir(&mut k).expect("a ChangeDir");
        assert_eq!(path, "rel");
        answer(
            &mut k,
            io,
            DiskResult::Done {
                read: b"/abs/rel".to_vec(),
            },
        );
        assert_eq!(k.take(1), "+OK\r\n+PONG\r\n");
        assert_eq!(
            k.cmd(1, "CONFIG GET dir"),
            "*2\r\n$3\r\ndir\r\n$8\r\n/abs/rel\r\n",
            "shown absolute, as Redis's getcwd"
        );
        assert!(k.cmd(1, "CONFIG GET maxmemory").contains("104857600"));

        k.send_lines(1, "CONFIG SET maxmemory 1mb dir /nope");
        let (io, _) = change_dir(&mut k).expect("a ChangeDir");
        answer(&mut k, io, DiskResult::Failed(DiskError::NotADirectory));
        assert_eq!(
            k.take(1),
            "-ERR CONFIG SET failed (possibly related to argument 'dir') - Not a directory\r\n"
        );
        assert!(
            k.cmd(1, "CONFIG GET maxmemory").contains("104857600"),
            "all or nothing"
        );
        assert!(k.cmd(1, "CONFIG GET dir").contains("/abs/rel"));
        assert!(k
            .cmd(1, "INFO errorstats")
            .contains("errorstat_ERR:count=1"));
    }

    #[test]
    fn a_reload_changes_dir_through_the_chdir_too() {
        let mut k = Kit::new("enable-protected-configs yes\ndir /start");
        let base = crate::config::Config::default();
        let mut file = base.clone();
        file.apply_text("dir /start").expect("parse");
        k.nodes[0].set_config_file("/etc/keel.conf".into(), base, file);
        k.connect(1);
        for (answer_with, expected_dir) in [
            (DiskResult::Failed(DiskError::NotFound), "/start"),
            (
                DiskResult::Done {
                    read: b"/next".to_vec(),
                },
                "/next",
            ),
        ] {
            k.input(0, Input::Signal(crate::io::Signal::Hangup));
            let read = std::mem::take(&mut k.effects)
                .into_iter()
                .find_map(|(_, e)| match e {
                    Effect::Disk {
                        io,
                        op: DiskOp::Read { .. },
                    } => Some(io),
                    _ => None,
                })
                .expect("the file is read");
            // A fresh value each round, so the file changed each time.
            let text = format!(
                "dir /next\nhz {}",
                if expected_dir == "/start" { 11 } else { 12 }
            );
            answer(
                &mut k,
                read,
                DiskResult::Done {
                    read: text.into_bytes(),
                },
            );
            let (io, path) = change_dir(&mut k).expect("a ChangeDir");
            assert_eq!(path, "/next");
            answer(&mut k, io, answer_with);
            assert!(k.cmd(1, "CONFIG GET dir").contains(expected_dir));
        }
    }

    #[test]
    fn inside_exec_dir_is_applied_at_once_and_put_back_when_the_chdir_fails() {
        let mut k = Kit::new("enable-protected-configs yes\ndir /start");
        k.connect(1);
        k.cmd(1, "MULTI");
        k.cmd(1, "CONFIG SET dir /missing");
        assert_eq!(k.cmd(1, "EXEC"), "*1\r\n+OK\r\n");
        let (io, _) = change_dir(&mut k).expect("a ChangeDir");
        answer(&mut k, io, DiskResult::Failed(DiskError::NotFound));
        assert!(k.cmd(1, "CONFIG GET dir").contains("/start"));
        assert!(k.effects.iter().any(|(_, e)| matches!(
            e,
            Effect::Log { message, .. } if message.contains("dir is back to /start")
        )));
    }
}
