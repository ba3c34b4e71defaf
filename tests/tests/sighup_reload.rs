//! SIGHUP reloads the config file (beyond Redis, which ignores SIGHUP), end to end with
//! the real keel-server: directives changed in the file that may change at run time
//! take effect, the others are logged as needing a restart, a file that does not parse
//! changes nothing, and values set by CONFIG SET that the file does not change stay.

mod common;

use std::time::{Duration, Instant};

use common::{escape, Conn, Server};

fn get(c: &mut Conn, name: &str) -> String {
    escape(&c.cmds(&format!("CONFIG GET {name}")))
}

fn hup(server: &Server) {
    // SAFETY: signalling a child we own.
    let rc = unsafe { libc::kill(server.pid() as i32, libc::SIGHUP) };
    assert_eq!(rc, 0);
}

/// Waits until the log holds `line`.
fn wait_log(log: &std::path::Path, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(line) {
            return text;
        }
        assert!(Instant::now() < deadline, "no {line:?} in the log:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_applies_what_changed_in_the_file() {
    if std::env::var("KEEL_E2E_TARGET").as_deref() == Ok("redis") {
        return; // Redis ignores SIGHUP: nothing to compare.
    }
    let dir = common::scratch_dir("sighup");
    let conf = dir.join("keel.conf");
    let log = dir.join("keel.log");
    let logline = format!("logfile {}\n", log.display());
    std::fs::write(
        &conf,
        format!("# a comment\nhz 10\nmaxmemory 0\ndatabases 16\nslowlog-max-len 128\n{logline}"),
    )
    .unwrap();
    let server = Server::keel_with_config(&conf, &[]);
    let mut c = server.conn();
    assert_eq!(c.cmds("CONFIG SET slowlog-max-len 7"), b"+OK\r\n");
    std::fs::write(
        &conf,
        format!("hz 25\nmaxmemory 2mb\ndatabases 4\nslowlog-max-len 128\n{logline}"),
    )
    .unwrap();
    hup(&server);
    let text = wait_log(&log, "Config reload: 'maxmemory' set to '2097152'");
    assert!(text.contains("Config reload: 'hz' set to '25'"), "{text}");
    assert!(
        text.contains("Config reload: 'databases' changed in the file to '4' but can't change at run time; restart the server to apply it"),
        "{text}"
    );
    assert_eq!(
        get(&mut c, "hz"),
        "*2\\r\\n$2\\r\\nhz\\r\\n$2\\r\\n25\\r\\n"
    );
    assert_eq!(
        get(&mut c, "maxmemory"),
        "*2\\r\\n$9\\r\\nmaxmemory\\r\\n$7\\r\\n2097152\\r\\n"
    );
    assert_eq!(
        get(&mut c, "databases"),
        "*2\\r\\n$9\\r\\ndatabases\\r\\n$2\\r\\n16\\r\\n"
    );
    // Unchanged in the file: CONFIG SET's value stays.
    assert_eq!(
        get(&mut c, "slowlog-max-len"),
        "*2\\r\\n$15\\r\\nslowlog-max-len\\r\\n$1\\r\\n7\\r\\n"
    );
    // A file that does not parse changes nothing.
    std::fs::write(&conf, format!("hz 50\nmaxmemory lots\n{logline}")).unwrap();
    hup(&server);
    wait_log(&log, "Config reload failed, nothing changed");
    assert_eq!(
        get(&mut c, "hz"),
        "*2\\r\\n$2\\r\\nhz\\r\\n$2\\r\\n25\\r\\n"
    );
}
