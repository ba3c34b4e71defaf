//! CONFIG SET dir against a real redis-server 7.0: the same replies for a missing
//! directory, a file, an empty path and a good directory (absolute and relative, the
//! latter shown absolute by CONFIG GET as Redis's getcwd shows it), a multi-directive
//! CONFIG SET that fails on `dir` changing nothing, and the proof that the change took
//! effect: a SAVE and a BGSAVE after it write `dump.rdb` into the new directory, and a
//! CONFIG REWRITE writes the new `dir` into the config file.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{escape, Conn, Server};

/// Each server gets its own tree: `<root>/start` (where it starts), `<root>/next`,
/// `<root>/next/sub`, `<root>/file`.
fn tree(tag: &str) -> std::path::PathBuf {
    let root = common::scratch_dir(tag);
    std::fs::create_dir_all(root.join("start")).unwrap();
    std::fs::create_dir_all(root.join("next/sub")).unwrap();
    std::fs::write(root.join("file"), b"not a directory").unwrap();
    std::fs::write(root.join("start/server.conf"), b"# dir test\n").unwrap();
    root
}

fn start(name: &'static str, program: &str, root: &Path) -> Server {
    let conf = root.join("start/server.conf").display().to_string();
    let dir = root.join("start").display().to_string();
    let redis = name == "redis";
    Server::start(name, program, move |port| {
        let mut a = vec![conf.clone(), "--port".into(), port.to_string()];
        a.extend(["--save", "", "--appendonly", "no"].map(String::from));
        a.extend(["--enable-protected-configs".into(), "yes".into()]);
        a.extend(["--dir".into(), dir.clone()]);
        if redis {
            a.extend(["--daemonize".into(), "no".into()]);
        }
        a
    })
}

/// Both servers' replies to the same command, with each one's root masked.
fn both(r: &mut Conn, rroot: &Path, k: &mut Conn, kroot: &Path, args: &[&str]) -> String {
    let run = |c: &mut Conn, root: &Path| {
        let root = root.display().to_string();
        let args: Vec<Vec<u8>> = args
            .iter()
            .map(|a| a.replace("ROOT", &root).into_bytes())
            .collect();
        escape(&c.cmdv(&args)).replace(&root, "ROOT")
    };
    let (rr, kr) = (run(r, rroot), run(k, kroot));
    assert_eq!(rr, kr, "{args:?}");
    rr
}

fn wait_for(path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn config_set_dir_behaves_as_redis_and_takes_effect() {
    if !common::require_redis_or_skip() {
        return;
    }
    let (rroot, kroot) = (tree("dir-r"), tree("dir-k"));
    let redis = start("redis", "redis-server", &rroot);
    let keel = start("keel", common::keel_bin(), &kroot);
    let (mut r, mut k) = (redis.conn(), keel.conn());
    let mut run = |args: &[&str]| both(&mut r, &rroot, &mut k, &kroot, args);

    // Refused with chdir's error; nothing changes.
    let missing = run(&["CONFIG", "SET", "dir", "ROOT/missing"]);
    assert!(missing.contains("No such file or directory"), "{missing}");
    let file = run(&["CONFIG", "SET", "dir", "ROOT/file"]);
    assert!(file.contains("Not a directory"), "{file}");
    run(&["CONFIG", "SET", "dir", ""]);
    run(&["CONFIG", "SET", "DIR", "ROOT/missing"]);
    // All or nothing: maxmemory stays as it was.
    run(&["CONFIG", "SET", "maxmemory", "12345", "dir", "ROOT/missing"]);
    assert!(run(&["CONFIG", "GET", "maxmemory"]).ends_with("$1\\r\\n0\\r\\n"));
    assert!(run(&["CONFIG", "GET", "dir"]).contains("ROOT/start"));

    // A good one, with another directive: both apply.
    assert_eq!(
        run(&["CONFIG", "SET", "dir", "ROOT/next", "maxmemory", "12345"]),
        "+OK\\r\\n"
    );
    assert!(run(&["CONFIG", "GET", "maxmemory"]).contains("12345"));
    assert!(run(&["CONFIG", "GET", "dir"]).contains("ROOT/next"));
    run(&["SET", "k", "v"]);
    assert_eq!(run(&["SAVE"]), "+OK\\r\\n");
    for root in [&rroot, &kroot] {
        assert!(root.join("next/dump.rdb").exists(), "{}", root.display());
        assert!(!root.join("start/dump.rdb").exists(), "{}", root.display());
    }

    // Relative to the directory now; CONFIG GET shows it absolute.
    assert_eq!(run(&["CONFIG", "SET", "dir", "sub"]), "+OK\\r\\n");
    let got = run(&["CONFIG", "GET", "dir"]);
    assert!(got.contains("ROOT/next/sub"), "{got}");
    run(&["BGSAVE"]);
    for root in [&rroot, &kroot] {
        assert!(
            wait_for(&root.join("next/sub/dump.rdb")),
            "BGSAVE into the new dir: {}",
            root.display()
        );
    }

    // CONFIG REWRITE records the new dir.
    run(&["CONFIG", "REWRITE"]);
    for root in [&rroot, &kroot] {
        let text = std::fs::read_to_string(root.join("start/server.conf")).unwrap();
        let line = format!("dir \"{}\"", root.join("next/sub").display());
        assert!(text.contains(&line), "{}: {text}", root.display());
    }
}
