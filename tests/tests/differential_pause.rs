//! CLIENT PAUSE and CLIENT UNPAUSE against a real redis-server 7.0: the same script on
//! both, its transcript compared — which commands a WRITE pause holds (writes, PUBLISH,
//! an EXEC with a queued write, a write before it is queued), that ALL holds
//! everything, that held clients show as blocked (INFO `blocked_clients`, CLIENT LIST
//! `flags=b` with the held command), that expired keys are reported missing but kept,
//! the mode replaced and the end kept, and the argument errors.

mod common;

use std::thread::sleep;
use std::time::Duration;

use common::{escape, Conn, Server};

/// The reply if one arrives within `ms`, else "(held)".
fn reply_within(c: &mut Conn, ms: u64) -> String {
    c.stream
        .set_read_timeout(Some(Duration::from_millis(ms)))
        .unwrap();
    let mut chunk = [0u8; 4096];
    let mut got = c.take_pending();
    use std::io::Read;
    loop {
        if common::frame(&got, 0).ok().flatten().is_some() {
            break;
        }
        match c.stream.read(&mut chunk) {
            Ok(0) => return "(closed)".into(),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
    }
    c.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    if got.is_empty() {
        "(held)".into()
    } else {
        escape(&got)
    }
}

/// The CLIENT LIST line of the client named `name`, with only flags and cmd kept.
fn list_entry(admin: &mut Conn, name: &str) -> String {
    let list = String::from_utf8_lossy(&admin.cmds("CLIENT LIST")).into_owned();
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" name={name} ")))
        .unwrap_or_else(|| panic!("no client {name} in {list}"));
    line.split(' ')
        .filter(|f| f.starts_with("flags=") || f.starts_with("cmd="))
        .collect::<Vec<_>>()
        .join(" ")
}

fn info_field(admin: &mut Conn, field: &str) -> String {
    let info = String::from_utf8_lossy(&admin.cmds("INFO clients")).into_owned();
    info.lines()
        .find(|l| l.starts_with(field))
        .unwrap_or("(missing)")
        .to_string()
}

fn script(server: &Server) -> Vec<String> {
    let mut t = Vec::new();
    let mut admin = server.conn();
    let mut b = server.conn();
    let mut c = server.conn();
    b.cmds("CLIENT SETNAME b");
    c.cmds("CLIENT SETNAME c");
    let mut say = |what: &str, reply: String| t.push(format!("{what} -> {reply}"));
    for line in [
        "CLIENT PAUSE abc",
        "CLIENT PAUSE -1",
        "CLIENT PAUSE 10 foo",
        "CLIENT pause 10 write extra",
        "CLIENT UNPAUSE extra",
        "SET e 1 PX 100",
        "CLIENT PAUSE 2000 WRITE",
    ] {
        say(line, escape(&admin.cmds(line)));
    }
    b.send_raw(&common::encode_line("SET k v"));
    c.send_raw(&common::encode_line("PUBLISH ch x"));
    sleep(Duration::from_millis(300));
    for line in ["GET k", "GET e", "EXISTS e", "DBSIZE", "PING"] {
        say(line, escape(&admin.cmds(line)));
    }
    say("blocked", info_field(&mut admin, "blocked_clients"));
    say("b listed", list_entry(&mut admin, "b"));
    say("c listed", list_entry(&mut admin, "c"));
    say("b while paused", reply_within(&mut b, 200));
    say("unpause", escape(&admin.cmds("CLIENT UNPAUSE")));
    say("b after", reply_within(&mut b, 2000));
    say("c after", reply_within(&mut c, 2000));
    say("DBSIZE after", escape(&admin.cmds("DBSIZE")));

    // The mode given last wins, the later end stays: WRITE for 1.5 s, then ALL for
    // "10 ms" holds even PING until the 1.5 s are up.
    say(
        "pause write",
        escape(&admin.cmds("CLIENT PAUSE 1500 WRITE")),
    );
    say("pause all", escape(&admin.cmds("CLIENT PAUSE 10 ALL")));
    b.send_raw(&common::encode_line("PING"));
    say("ping under all", reply_within(&mut b, 500));
    say("ping after", reply_within(&mut b, 3000));

    // A write is held before it is queued; an EXEC holding a write is held; a read-only
    // EXEC runs.
    say("b multi", escape(&b.cmds("MULTI")));
    say("b queue", escape(&b.cmds("SET x 1")));
    say("c multi", escape(&c.cmds("MULTI")));
    say("c queue", escape(&c.cmds("GET x")));
    say("pause", escape(&admin.cmds("CLIENT PAUSE 100000 WRITE")));
    b.send_raw(&common::encode_line("EXEC"));
    say("c exec", escape(&c.cmds("EXEC")));
    say("c multi", escape(&c.cmds("MULTI")));
    c.send_raw(&common::encode_line("SET y 1"));
    say("b exec held", reply_within(&mut b, 200));
    say("c set held", reply_within(&mut c, 200));
    say("blocked", info_field(&mut admin, "blocked_clients"));
    say("unpause", escape(&admin.cmds("CLIENT UNPAUSE")));
    say("b exec", reply_within(&mut b, 2000));
    say("c queued", reply_within(&mut c, 2000));
    say("c exec", escape(&c.cmds("EXEC")));
    say("pause 0", escape(&admin.cmds("CLIENT PAUSE 0 WRITE")));
    say("set after pause 0", escape(&b.cmds("SET z 1")));
    t
}

#[test]
fn client_pause_matches_redis() {
    if !common::require_redis_or_skip() {
        return;
    }
    let redis = Server::redis(&[]);
    let keel = Server::keel(&[]);
    let (want, got) = std::thread::scope(|s| {
        let r = s.spawn(|| script(&redis));
        let k = s.spawn(|| script(&keel));
        (r.join().unwrap(), k.join().unwrap())
    });
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w, g, "redis vs keel");
    }
    assert_eq!(want.len(), got.len());
}
