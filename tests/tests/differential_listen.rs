//! CONFIG SET port / bind against a real redis-server 7.0: both move their listener at
//! once (the old port refuses, the new one answers, connections already open stay),
//! a port someone else holds fails with Redis's error and leaves the old listener and
//! every value of the same CONFIG SET as they were.

mod common;

use std::net::{TcpListener, TcpStream};

use common::{escape, free_port, Conn, Server};

fn script(server: &Server, taken: u16) -> Vec<String> {
    let mut t = Vec::new();
    let mut c = server.conn();
    let new_port = free_port();
    let line = format!("CONFIG SET hz 20 port {new_port}");
    t.push(format!("move -> {}", escape(&c.cmds(&line))));
    t.push(format!("same conn -> {}", escape(&c.cmds("CONFIG GET hz"))));
    t.push(format!(
        "old port refuses -> {}",
        TcpStream::connect(("127.0.0.1", server.port)).is_err()
    ));
    let mut moved = Conn::connect(new_port);
    t.push(format!("new port -> {}", escape(&moved.cmds("PING"))));
    // A port another process listens on: Redis's error, nothing changes.
    let line = format!("CONFIG SET hz 30 port {taken}");
    t.push(format!("taken -> {}", escape(&moved.cmds(&line))));
    t.push(format!(
        "hz kept -> {}",
        escape(&moved.cmds("CONFIG GET hz"))
    ));
    let mut again = Conn::connect(new_port);
    t.push(format!(
        "still listening -> {}",
        escape(&again.cmds("PING"))
    ));
    // bind: a list on the same port, then an address nobody has.
    let r = moved.cmds("CONFIG SET bind 127.0.0.1");
    t.push(format!("bind loopback -> {}", escape(&r)));
    t.push(format!(
        "after bind -> {}",
        escape(&Conn::connect(new_port).cmds("PING"))
    ));
    let r = moved.cmds("CONFIG SET bind 10.254.254.254");
    t.push(format!("bind unavailable -> {}", escape(&r)));
    t.push(format!(
        "bind kept -> {}",
        escape(&Conn::connect(new_port).cmds("CONFIG GET bind"))
    ));
    // Put the port back so the Server's drop and readiness logic stay simple.
    let line = format!("CONFIG SET port {}", server.port);
    t.push(format!("back -> {}", escape(&moved.cmds(&line))));
    t
}

#[test]
fn config_set_port_and_bind_rebind_as_redis() {
    if !common::require_redis_or_skip() {
        return;
    }
    let holder = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let taken = holder.local_addr().unwrap().port();
    let redis = Server::redis(&[]);
    let keel = Server::keel(&[]);
    let want = script(&redis, taken);
    let got = script(&keel, taken);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w, g, "redis vs keel");
    }
    assert_eq!(want.len(), got.len());
    assert!(want[0].ends_with("+OK\\r\\n"), "{want:?}");
    assert!(
        want[4].contains("Unable to listen on this port"),
        "{want:?}"
    );
    assert!(want[9].contains("Failed to bind"), "{want:?}");
}

/// Protected mode counts only 127.0.0.1 and ::1 as local in Redis 7.0: a client from
/// another loopback address (127.0.0.2) is denied by both.
#[test]
fn protected_mode_counts_only_127_0_0_1_as_local() {
    if !common::require_redis_or_skip() {
        return;
    }
    let redis = Server::redis(&["--bind", "127.0.0.1"]);
    let keel = Server::keel(&["--bind", "127.0.0.1"]);
    let from = |port: u16, source: [u8; 4]| -> String {
        use std::io::Read;
        let mut stream = socket2_free_connect(source, port);
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        while !reply.ends_with(b"\r\n") {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => reply.extend_from_slice(&chunk[..n]),
            }
        }
        escape(&reply[..reply.len().min(40)])
    };
    for source in [[127, 0, 0, 2], [127, 0, 0, 1]] {
        let want = from(redis.port, source);
        let got = from(keel.port, source);
        assert_eq!(want, got, "from {source:?}");
    }
}

/// A TCP connection from `source` to 127.0.0.1:`port`, sending a PING.
fn socket2_free_connect(source: [u8; 4], port: u16) -> TcpStream {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    // SAFETY: a fresh socket we own, bound and connected with plain libc calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let addr = |ip: [u8; 4], port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(ip),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let local = addr(source, 0);
        assert_eq!(
            libc::bind(fd, &local as *const _ as *const libc::sockaddr, len),
            0
        );
        let remote = addr([127, 0, 0, 1], port);
        assert_eq!(
            libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len),
            0
        );
        let mut stream = TcpStream::from_raw_fd(fd);
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        stream.write_all(b"PING\r\n").unwrap();
        stream
    }
}

/// CONFIG SET maxclients beyond what the open-files limit allows is refused with
/// Redis's error naming how many would fit; within it, it is taken.
#[test]
fn config_set_maxclients_checks_the_open_files_limit_as_redis() {
    if !common::require_redis_or_skip() {
        return;
    }
    let redis = Server::redis(&[]);
    let keel = Server::keel(&[]);
    let (mut r, mut k) = (redis.conn(), keel.conn());
    for line in [
        "CONFIG SET maxclients 1000000",
        "CONFIG GET maxclients",
        "CONFIG SET maxclients 100 hz 20",
        "CONFIG GET maxclients",
    ] {
        assert_eq!(escape(&r.cmds(line)), escape(&k.cmds(line)), "{line}");
    }
}
