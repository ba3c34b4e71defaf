//! The lines Redis prints while it starts and stops, which supervisors, test harnesses
//! and log watchers grep for: kept word for word (Redis 7.0.15's), plus one line that
//! says this is keel. Only text lives here; the server decides when each is logged.

/// The Redis version keel answers as (INFO, HELLO, the banner).
pub use keel_core::commands::connection::REDIS_VERSION;

pub const STARTING: &str = "oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo";
pub const CONFIG_LOADED: &str = "Configuration loaded";
pub const MONOTONIC_CLOCK: &str = "monotonic clock: POSIX clock_gettime";
pub const SERVER_INITIALIZED: &str = "Server initialized";
/// 7.0's words (7.2 added " tcp"); the line every harness waits for.
pub const READY: &str = "Ready to accept connections";
pub const REMOVING_PIDFILE: &str = "Removing the pid file.";
pub const BYE: &str = "Redis is now ready to exit, bye bye...";

/// Redis's version line, with the version keel is compatible with: tools read it to
/// learn what they talk to. keel names itself on the next line ([`keel_version_line`]).
pub fn version_line(pid: u32) -> String {
    format!(
        "Redis version={REDIS_VERSION}, bits=64, commit=00000000, modified=0, pid={pid}, just started"
    )
}

/// The one line Redis does not print.
pub fn keel_version_line() -> String {
    format!(
        "keel version={}, Redis {REDIS_VERSION} compatible",
        env!("CARGO_PKG_VERSION")
    )
}

/// What Redis says when started with no argument at all.
pub fn no_config_warning(program: &str) -> String {
    format!(
        "Warning: no config file specified, using the default config. In order to specify a config file use {program} /path/to/redis.conf"
    )
}

/// `standalone` or `cluster` (keel has no sentinel mode yet).
pub fn mode(cluster_enabled: bool) -> &'static str {
    if cluster_enabled {
        "cluster"
    } else {
        "standalone"
    }
}

/// The line printed instead of the logo.
pub fn running_mode_line(mode: &str, port: u16) -> String {
    format!("Running mode={mode}, port={port}.")
}

/// Redis's logo, byte for byte (trailing spaces and the closing blank line included),
/// written raw: no line prefix.
pub fn logo(mode: &str, port: u16, pid: u32) -> String {
    let version = REDIS_VERSION;
    let lines: [String; 18] = [
        "                _._                                                  ".to_string(),
        "           _.-``__ ''-._                                             ".to_string(),
        format!("      _.-``    `.  `_.  ''-._           Redis {version} (00000000/0) 64 bit"),
        "  .-`` .-```.  ```\\/    _.,_ ''-._                                  ".to_string(),
        format!(" (    '      ,       .-`  | `,    )     Running in {mode} mode"),
        format!(" |`-._`-...-` __...-.``-._|'` _.-'|     Port: {port}"),
        format!(" |    `-._   `._    /     _.-'    |     PID: {pid}"),
        "  `-._    `-._  `-./  _.-'    _.-'                                   ".to_string(),
        " |`-._`-._    `-.__.-'    _.-'_.-'|                                  ".to_string(),
        " |    `-._`-._        _.-'_.-'    |           https://redis.io       ".to_string(),
        "  `-._    `-._`-.__.-'_.-'    _.-'                                   ".to_string(),
        " |`-._`-._    `-.__.-'    _.-'_.-'|                                  ".to_string(),
        " |    `-._`-._        _.-'_.-'    |                                  ".to_string(),
        "  `-._    `-._`-.__.-'_.-'    _.-'                                   ".to_string(),
        "      `-._    `-.__.-'    _.-'                                       ".to_string(),
        "          `-._        _.-'                                           ".to_string(),
        "              `-.__.-'                                               ".to_string(),
        "".to_string(),
    ];
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Whether Redis would show the logo: forced by `always-show-logo`, or logging to a
/// terminal on standard output with syslog off.
pub fn shows_logo(
    always_show_logo: bool,
    syslog: bool,
    logs_to_stdout: bool,
    stdout_is_tty: bool,
) -> bool {
    always_show_logo || (!syslog && logs_to_stdout && stdout_is_tty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logo_is_redis_logo_with_mode_port_and_pid() {
        let logo = logo("standalone", 17020, 12062);
        let lines: Vec<&str> = logo.split('\n').collect();
        assert_eq!(
            lines.len(),
            19,
            "18 lines, the last one blank, then the final newline"
        );
        assert_eq!(lines[0].len(), 69);
        assert_eq!(
            lines[2],
            "      _.-``    `.  `_.  ''-._           Redis 7.0.15 (00000000/0) 64 bit"
        );
        assert_eq!(
            lines[4],
            " (    '      ,       .-`  | `,    )     Running in standalone mode"
        );
        assert_eq!(
            lines[5],
            " |`-._`-...-` __...-.``-._|'` _.-'|     Port: 17020"
        );
        assert_eq!(
            lines[6],
            " |    `-._   `._    /     _.-'    |     PID: 12062"
        );
        assert!(logo.ends_with("`-.__.-'                                               \n\n"));
    }

    #[test]
    fn logo_shows_as_redis_decides() {
        assert!(shows_logo(true, true, false, false));
        assert!(shows_logo(false, false, true, true));
        assert!(!shows_logo(false, true, true, true));
        assert!(!shows_logo(false, false, false, true));
        assert!(!shows_logo(false, false, true, false));
    }

    #[test]
    fn version_lines() {
        assert_eq!(
            version_line(31997),
            "Redis version=7.0.15, bits=64, commit=00000000, modified=0, pid=31997, just started"
        );
        assert!(keel_version_line().starts_with("keel version="));
        assert_eq!(
            running_mode_line(mode(false), 6379),
            "Running mode=standalone, port=6379."
        );
    }
}
