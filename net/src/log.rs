//! Redis's log lines, as a `tracing` subscriber: `pid:role dd Mon yyyy hh:mm:ss.mmm c msg`
//! on standard output or appended to `logfile`, and to syslog when `syslog-enabled`.
//! It owns the process-wide log level and role (followed from the node's settings); it
//! never panics and never retries: a line that cannot be written is dropped, as Redis
//! drops it.

use std::ffi::CString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use keel_core::config::{LogLevel as ConfigLevel, Settings};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

/// Redis's `LOG_MAX_LEN`: a formatted message is cut to one byte less (its C buffer
/// keeps the NUL). The raw logo is not cut.
pub const LOG_MESSAGE_MAX_BYTES: usize = 1024 - 1;

/// A boolean field: write the message as it is (Redis's `LL_RAW`, the ASCII logo),
/// with no prefix and no newline added.
pub const RAW_FIELD: &str = "raw";
/// A boolean field: the line comes from a signal handler and takes Redis's
/// `pid:signal-handler (unix_secs) msg` form (and skips syslog, as Redis's does).
pub const SIGNAL_HANDLER_FIELD: &str = "signal_handler";

/// Redis's level characters, by [`redis_level`]: debug, verbose, notice, warning.
const LEVEL_CHARS: [u8; 4] = *b".-*#";
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Redis's four levels sit on tracing's lowest four (`ERROR` is a warning too):
/// debug = `TRACE`, verbose = `DEBUG`, notice = `INFO`, warning = `WARN`.
pub fn redis_level(level: &Level) -> u8 {
    match *level {
        Level::TRACE => 0,
        Level::DEBUG => 1,
        Level::INFO => 2,
        _ => 3,
    }
}

fn config_level(level: ConfigLevel) -> u8 {
    match level {
        ConfigLevel::Debug => 0,
        ConfigLevel::Verbose => 1,
        ConfigLevel::Notice => 2,
        ConfigLevel::Warning => 3,
    }
}

/// Who is writing, shown after the pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Before the server is initialised. Redis 7.0 prints `C` then (its `server.pid`
    /// is not set yet, so it takes itself for a child); keel prints the same.
    Starting,
    /// `M`: a master.
    Master,
    /// `S`: a replica.
    Replica,
}

impl Role {
    pub fn char(self) -> char {
        match self {
            Role::Starting => 'C',
            Role::Master => 'M',
            Role::Replica => 'S',
        }
    }
}

/// The least level written (Redis's `server.verbosity`), as [`redis_level`] numbers.
static MIN_LEVEL: AtomicU8 = AtomicU8::new(2);
/// The [`Role`] character.
static ROLE: AtomicU8 = AtomicU8::new(b'C');

pub fn set_level(level: ConfigLevel) {
    MIN_LEVEL.store(config_level(level), Ordering::Relaxed);
}

pub fn set_role(role: Role) {
    ROLE.store(role.char() as u8, Ordering::Relaxed);
}

/// Takes the level and the role from the node's settings, so `CONFIG SET loglevel`
/// applies from the next line on. Cheap (two loads, two stores): the driver calls it
/// before every line the node logs.
pub fn follow(settings: &Settings) {
    let (level, role) = followed(settings, ROLE.load(Ordering::Relaxed));
    MIN_LEVEL.store(level, Ordering::Relaxed);
    ROLE.store(role, Ordering::Relaxed);
}

/// The level and role character `settings` name, for a logger now signing `role`:
/// the starting role stays until the server says it is initialised.
fn followed(settings: &Settings, role: u8) -> (u8, u8) {
    let role = if role == b'C' {
        role
    } else if settings.replicaof.is_some() {
        Role::Replica.char() as u8
    } else {
        Role::Master.char() as u8
    };
    (config_level(settings.loglevel), role)
}

/// `dd Mon yyyy hh:mm:ss.mmm` in local time, as Redis's `strftime("%d %b %Y %H:%M:%S.")`
/// in the C locale plus milliseconds.
pub fn timestamp(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000) as libc::time_t;
    let ms = unix_ms.rem_euclid(1000);
    // SAFETY: localtime_r only writes the struct we own; on failure it is left zeroed.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    let month = usize::try_from(tm.tm_mon)
        .ok()
        .and_then(|m| MONTHS.get(m))
        .unwrap_or(&"Jan");
    format!(
        "{:02} {month} {} {:02}:{:02}:{:02}.{ms:03}",
        tm.tm_mday,
        i64::from(tm.tm_year) + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// One formatted line, newline included: `pid:role timestamp c message`.
pub fn format_line(pid: u32, role: char, unix_ms: i64, level: u8, message: &str) -> String {
    let level_char = LEVEL_CHARS.get(usize::from(level)).copied().unwrap_or(b'#') as char;
    format!(
        "{pid}:{role} {} {level_char} {}\n",
        timestamp(unix_ms),
        cut(message, LOG_MESSAGE_MAX_BYTES)
    )
}

/// Redis's `serverLogFromHandler` line: `pid:signal-handler (unix_secs) message`.
pub fn format_signal_handler_line(pid: u32, unix_secs: i64, message: &str) -> String {
    format!("{pid}:signal-handler ({unix_secs}) {message}\n")
}

/// `s` cut to at most `max_bytes`, on a character boundary.
fn cut(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or(s)
}

/// Where lines go.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    /// `logfile`; None for standard output.
    pub logfile: Option<PathBuf>,
    /// `syslog-enabled`. Lines go to syslog with libc's defaults (the program's name,
    /// `LOG_USER`) until [`open_syslog`] names the ident and facility, as in Redis,
    /// which calls `openlog` only when it initialises the server.
    pub syslog: bool,
}

/// Installs the Redis-format subscriber for the whole process, at `level`. Returns
/// false when a subscriber was already installed (it is left in place).
pub fn install(options: LogOptions, level: ConfigLevel) -> bool {
    set_level(level);
    let subscriber = RedisLog {
        logfile: options.logfile,
        syslog: options.syslog,
    };
    tracing::subscriber::set_global_default(subscriber).is_ok()
}

/// `openlog(syslog-ident, LOG_PID | LOG_NDELAY | LOG_NOWAIT, syslog-facility)`, as
/// Redis's `initServer`. Call it once (it leaks the ident, which syslog keeps).
pub fn open_syslog(ident: &[u8], facility: u32) {
    let ident: Vec<u8> = ident.iter().copied().filter(|&b| b != 0).collect();
    // openlog keeps the pointer for the life of the process.
    let ident: &'static std::ffi::CStr = match CString::new(ident) {
        Ok(c) => Box::leak(c.into_boxed_c_str()),
        Err(_) => c"redis",
    };
    let facility = libc::c_int::try_from(facility).unwrap_or(libc::LOG_LOCAL0);
    // SAFETY: `ident` is NUL-terminated and lives forever.
    unsafe {
        libc::openlog(
            ident.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY | libc::LOG_NOWAIT,
            facility,
        )
    };
}

fn write_syslog(level: u8, message: &str) {
    let priority = match level {
        0 => libc::LOG_DEBUG,
        1 => libc::LOG_INFO,
        2 => libc::LOG_NOTICE,
        _ => libc::LOG_WARNING,
    };
    let bytes: Vec<u8> = message.bytes().filter(|&b| b != 0).collect();
    let Ok(text) = CString::new(bytes) else {
        return;
    };
    // SAFETY: a constant "%s" format and one NUL-terminated argument.
    unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
}

/// The subscriber: no spans, every event one line.
struct RedisLog {
    logfile: Option<PathBuf>,
    syslog: bool,
}

impl RedisLog {
    /// Redis opens the log file for every line, so a file moved away by a log rotator
    /// is followed at once, with no signal to send.
    fn write(&self, bytes: &[u8]) {
        match &self.logfile {
            Some(path) => {
                if let Ok(mut file) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                {
                    let _ = file.write_all(bytes);
                }
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(bytes);
                let _ = out.flush();
            }
        }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    raw: bool,
    signal_handler: bool,
}

impl Visit for Fields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        match field.name() {
            RAW_FIELD => self.raw = value,
            SIGNAL_HANDLER_FIELD => self.signal_handler = value,
            _ => {}
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            use std::fmt::Write as _;
            let _ = write!(self.message, "{value:?}");
        }
    }
}

impl Subscriber for RedisLog {
    /// Never cached: the level changes at run time (CONFIG SET loglevel).
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event() && redis_level(metadata.level()) >= MIN_LEVEL.load(Ordering::Relaxed)
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = redis_level(event.metadata().level());
        let pid = std::process::id();
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        if fields.signal_handler {
            let line = format_signal_handler_line(pid, unix_ms / 1000, &fields.message);
            self.write(line.as_bytes());
            return;
        }
        if fields.raw {
            self.write(fields.message.as_bytes());
        } else {
            let role = ROLE.load(Ordering::Relaxed) as char;
            let line = format_line(pid, role, unix_ms, level, &fields.message);
            self.write(line.as_bytes());
        }
        if self.syslog {
            write_syslog(level, cut(&fields.message, LOG_MESSAGE_MAX_BYTES));
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis's own line shape, the same regex the end-to-end tests apply to both servers.
    fn is_redis_line(line: &str) -> bool {
        let Some((pid, rest)) = line.split_once(':') else {
            return false;
        };
        let bytes = rest.as_bytes();
        !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && matches!(bytes.first(), Some(b'M' | b'S' | b'C' | b'X'))
            && bytes.get(1) == Some(&b' ')
            && rest.len() > 28
            && matches!(bytes.get(27), Some(b'.' | b'-' | b'*' | b'#'))
            && line.ends_with('\n')
    }

    #[test]
    fn lines_have_redis_shape_and_level_chars() {
        // 2026-12-06 08:04:01.051 UTC; the machine's zone may move the hour, not the shape.
        let unix_ms = 1_796_544_241_051;
        for (level, c) in [(0u8, '.'), (1, '-'), (2, '*'), (3, '#')] {
            let line = format_line(31997, 'M', unix_ms, level, "Ready to accept connections");
            assert!(is_redis_line(&line), "{line:?}");
            assert!(line.starts_with("31997:M "), "{line:?}");
            assert!(
                line.ends_with(&format!(".051 {c} Ready to accept connections\n")),
                "{line:?}"
            );
        }
    }

    #[test]
    fn timestamp_is_local_time_in_the_c_locale() {
        // SAFETY: reading the zone libc computed for this process.
        let utc = unsafe {
            let secs: libc::time_t = 0;
            let mut tm: libc::tm = std::mem::zeroed();
            libc::localtime_r(&secs, &mut tm);
            tm.tm_gmtoff == 0
        };
        if utc {
            assert_eq!(timestamp(1_796_544_241_051), "06 Dec 2026 08:04:01.051");
            assert_eq!(timestamp(0), "01 Jan 1970 00:00:00.000");
            assert_eq!(timestamp(951_782_400_007), "29 Feb 2000 00:00:00.007");
        }
        let ts = timestamp(1_796_544_241_051);
        assert_eq!(ts.len(), "06 Dec 2026 08:04:01.051".len(), "{ts}");
    }

    #[test]
    fn long_messages_are_cut_as_redis_cuts_them() {
        let long = "é".repeat(LOG_MESSAGE_MAX_BYTES);
        let line = format_line(1, 'M', 0, 2, &long);
        let message = line.trim_end_matches('\n').splitn(7, ' ').nth(6).unwrap();
        assert!(message.len() <= LOG_MESSAGE_MAX_BYTES);
        assert!(message.len() > LOG_MESSAGE_MAX_BYTES - 2);
        assert_eq!(cut("short", 3), "sho");
    }

    #[test]
    fn signal_handler_lines_take_redis_form() {
        assert_eq!(
            format_signal_handler_line(
                32216,
                1_796_544_249,
                "Received SIGTERM scheduling shutdown..."
            ),
            "32216:signal-handler (1796544249) Received SIGTERM scheduling shutdown...\n"
        );
    }

    #[test]
    fn level_and_role_follow_the_settings() {
        let mut settings = keel_core::config::Config::default().settings().clone();
        settings.loglevel = ConfigLevel::Warning;
        settings.replicaof = Some((b"127.0.0.1".to_vec(), 6379));
        assert_eq!(
            followed(&settings, b'C'),
            (3, b'C'),
            "starting lines stay C"
        );
        assert_eq!(followed(&settings, b'M'), (3, b'S'));
        settings.replicaof = None;
        settings.loglevel = ConfigLevel::Debug;
        assert_eq!(followed(&settings, b'S'), (0, b'M'));
    }

    #[test]
    fn tracing_levels_map_onto_redis_levels() {
        assert_eq!(redis_level(&Level::TRACE), 0);
        assert_eq!(redis_level(&Level::DEBUG), 1);
        assert_eq!(redis_level(&Level::INFO), 2);
        assert_eq!(redis_level(&Level::WARN), 3);
        assert_eq!(redis_level(&Level::ERROR), 3);
        for level in [
            ConfigLevel::Debug,
            ConfigLevel::Verbose,
            ConfigLevel::Notice,
            ConfigLevel::Warning,
        ] {
            let tracing_level = [Level::TRACE, Level::DEBUG, Level::INFO, Level::WARN]
                [usize::from(config_level(level))];
            assert_eq!(redis_level(&tracing_level), config_level(level));
        }
    }
}
