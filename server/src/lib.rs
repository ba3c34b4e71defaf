//! keel-server: reads `redis.conf` and `--directive value` flags exactly as
//! `redis-server` takes them, sets up logging, seeds the node from the OS and runs the
//! mio event loop until SHUTDOWN or a signal.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};

use keel_core::config::{args_to_config_text, bind_address_ip, join_config_text, Config};
use keel_core::{Node, NodeSeeds, ProcessInfo};
use keel_net::{Clock, Reactor};

/// keel binds loopback by default, like the `redis.conf` Redis ships (Redis's compiled
/// default is every interface behind protected mode; keel takes the safer one).
const KEEL_DEFAULT_CONFIG: &str = "bind 127.0.0.1 -::1\n";

const USAGE: &str = "Usage: ./keel-server [/path/to/redis.conf] [options] [-]
       ./keel-server - (read config from stdin)
       ./keel-server -v or --version
       ./keel-server -h or --help

Examples:
       ./keel-server (run the server with default conf)
       ./keel-server /etc/redis/6379.conf
       ./keel-server --port 7777
       ./keel-server /etc/myredis.conf --loglevel verbose -
       ./keel-server /etc/myredis.conf --loglevel verbose
";

/// Runs the server with `args` (without the program name); returns the exit code.
pub fn run(args: Vec<String>) -> i32 {
    let mut args = args;
    match args.first().map(String::as_str) {
        Some("-v") | Some("--version") => {
            println!(
                "keel server v={} (Redis {} compatible) bits=64",
                env!("CARGO_PKG_VERSION"),
                keel_core::REDIS_VERSION
            );
            return 0;
        }
        Some("-h") | Some("--help") => {
            print!("{USAGE}");
            return 0;
        }
        _ => {}
    }
    let mut config_path: Option<String> = None;
    if args
        .first()
        .is_some_and(|a| !a.starts_with("--") && a != "-")
    {
        config_path = Some(args.remove(0));
    }
    let read_stdin = args.last().is_some_and(|a| a == "-");
    if read_stdin {
        args.pop();
    }
    let mut file_text: Option<String> = None;
    if let Some(path) = &config_path {
        match std::fs::read_to_string(path) {
            Ok(t) => file_text = Some(t),
            Err(e) => {
                eprintln!("Fatal error, can't open config file '{path}': {e}");
                return 1;
            }
        }
    }
    if read_stdin {
        let mut t = String::new();
        if std::io::stdin().read_to_string(&mut t).is_ok() {
            let joined = file_text.take().map_or(t.clone(), |f| format!("{f}\n{t}"));
            file_text = Some(joined);
        }
    }
    let args_text = match args_to_config_text(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let mut config = Config::default();
    if let Err(e) = config.apply_text(KEEL_DEFAULT_CONFIG) {
        eprint!("{e}");
        return 1;
    }
    let mut read_include = |path: &str| std::fs::read_to_string(path).map_err(|e| e.to_string());
    let joined = join_config_text(file_text.as_deref(), &args_text);
    let ignored = match config.apply_text_with_includes(&joined, &mut read_include) {
        Ok(ignored) => ignored,
        Err(e) => {
            eprint!("{e}");
            return 1;
        }
    };
    // Redis chdirs into `dir` and reports the resolved path in CONFIG GET dir.
    let dir = config.dir().to_string();
    if let Err(e) = std::env::set_current_dir(&dir) {
        eprintln!("Can't chdir to '{dir}': {e}");
        return 1;
    }
    if let Ok(cwd) = std::env::current_dir() {
        config.set_resolved_dir(&cwd.display().to_string());
    }
    init_logging(&config);
    tracing::info!("oO0OoO0OoO0Oo keel is starting oO0OoO0OoO0Oo");
    tracing::info!(
        "keel version={}, Redis {} compatible, bits=64, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        keel_core::REDIS_VERSION,
        std::process::id()
    );
    match &config_path {
        Some(p) => tracing::info!("Configuration loaded from {p}"),
        None => tracing::warn!("Warning: no config file specified, using the default config. In order to specify a config file use ./keel-server /path/to/redis.conf"),
    }
    if config.daemonize() {
        tracing::warn!("daemonize yes is not supported: keel stays in the foreground (run it under a supervisor)");
    }
    let pidfile = config.get_one("pidfile").unwrap_or_default();
    if !pidfile.is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
            tracing::warn!("Failed to write PID file: {e}");
        }
    }
    // The server itself acts on these, though the core does not.
    const HANDLED_BY_SERVER: &[&str] = &["pidfile", "dir", "daemonize", "logfile", "loglevel"];
    for name in ignored
        .iter()
        .filter(|n| !HANDLED_BY_SERVER.contains(&n.as_str()))
    {
        tracing::info!(
            "Directive '{name}' is accepted for Redis compatibility but has no effect in keel yet"
        );
    }
    let addrs = match listen_addrs(&config) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let clock = Clock::new();
    let node = Node::new(config, os_seeds(), clock.now());
    let mut reactor = match Reactor::bind(node, clock, &addrs) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    reactor.set_process_info(ProcessInfo {
        os: os_name(),
        process_id: std::process::id(),
        executable: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        config_file: config_path
            .as_ref()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        ..ProcessInfo::default()
    });
    for a in reactor.local_addrs() {
        tracing::info!("Listening on {a}");
    }
    tracing::info!("Server initialized");
    tracing::info!("Ready to accept connections tcp");
    let code = match reactor.run() {
        Ok(code) => {
            tracing::warn!("keel is now ready to exit, bye bye...");
            code
        }
        Err(e) => {
            tracing::error!("event loop failed: {e}");
            1
        }
    };
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    code
}

fn init_logging(config: &Config) {
    let level = match config.loglevel() {
        "debug" => tracing::Level::DEBUG,
        "verbose" => tracing::Level::DEBUG,
        "warning" => tracing::Level::WARN,
        "nothing" => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false);
    let logfile = config.logfile().to_string();
    if logfile.is_empty() {
        let _ = builder.with_writer(std::io::stdout).try_init();
    } else {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&logfile)
        {
            Ok(file) => {
                let _ = builder
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(file))
                    .try_init();
            }
            Err(e) => {
                eprintln!("Can't open the log file: {e}");
                let _ = builder.with_writer(std::io::stdout).try_init();
            }
        }
    }
}

/// Redis's `bind` list, read by the same rule CONFIG SET checks new lists with
/// ([`bind_address_ip`]).
fn listen_addrs(config: &Config) -> Result<Vec<SocketAddr>, String> {
    let port = config.port();
    let mut out = Vec::new();
    for raw in config.bind() {
        let ip = bind_address_ip(raw.as_bytes())
            .ok_or_else(|| format!("Invalid bind address '{raw}'"))?;
        out.push(SocketAddr::new(ip, port));
    }
    if out.is_empty() {
        out.push(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port));
    }
    Ok(out)
}

/// Random seeds for the node's RNG and hash keys, from the OS.
fn os_seeds() -> NodeSeeds {
    let mut bytes = [0u8; 40];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !ok {
        // Fall back to std's per-process random hasher keys.
        use std::hash::{BuildHasher, Hasher};
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    NodeSeeds {
        rng_seed: word(0),
        hash_seeds: [word(1), word(2), word(3), word(4)],
    }
}

fn os_name() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "{} {} {}",
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    )
}
