//! keel-server: reads `redis.conf` and `--directive value` flags exactly as
//! `redis-server` takes them, sets up logging, seeds the node from the OS and runs the
//! mio event loop until SHUTDOWN or a signal.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use std::io::IsTerminal;

use keel_core::config::{
    args_to_config_text, bind_address_ip, join_config_text, Config, ConfigFileError,
};
use keel_core::{Node, NodeSeeds, ProcessInfo};
use keel_net::log::{self, LogOptions, Role};
use keel_net::{Clock, Reactor};

pub mod banner;

/// keel binds loopback by default, like the `redis.conf` Redis ships (Redis's compiled
/// default is every interface behind protected mode; keel takes the safer one).
/// keel's own defaults where they differ from Redis's: loopback only, and no save
/// points (`save ""`: the plain `keel-server` run is in-memory; a config file or
/// CONFIG SET save turns snapshots on as in Redis).
const KEEL_DEFAULT_CONFIG: &str = "bind 127.0.0.1 -::1\nsave \"\"\n";

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
    let program = std::env::args()
        .next()
        .unwrap_or_else(|| "keel-server".to_string());
    run_as(&program, args)
}

/// [`run`], naming the program `program` where Redis names its `argv[0]`.
pub fn run_as(program: &str, args: Vec<String>) -> i32 {
    let program = program.to_string();
    let no_arguments = args.is_empty();
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
    let base_config = config.clone();
    let mut read_include = |path: &str| std::fs::read_to_string(path).map_err(|e| e.to_string());
    // What the file alone says, for SIGHUP to compare a new reading with.
    let file_config = match (&config_path, &file_text) {
        (Some(_), Some(text)) if !read_stdin => {
            let mut c = base_config.clone();
            c.apply_text_with_includes(text, &mut read_include)
                .ok()
                .map(|_| c)
        }
        _ => None,
    };
    let joined = join_config_text(file_text.as_deref(), &args_text);
    let ignored = match config.apply_text_with_includes(&joined, &mut read_include) {
        Ok(ignored) => ignored,
        Err(e) => {
            eprint!("{e}");
            return 1;
        }
    };
    // Redis chdirs into `dir` and reports the resolved path in CONFIG GET dir.
    let dir = path_of(&config.settings().dir);
    if let Err(e) = std::env::set_current_dir(&dir) {
        eprintln!("Can't chdir to '{}': {e}", dir.display());
        return 1;
    }
    if let Ok(cwd) = std::env::current_dir() {
        config.set_resolved_dir(cwd.as_os_str().as_bytes());
    }
    let settings = config.settings();
    let logfile = path_of(&settings.logfile);
    let logs_to_stdout = logfile.as_os_str().is_empty();
    if !logs_to_stdout {
        if let Err(e) = try_logfile(&logfile) {
            eprint!("{e}");
            return 1;
        }
    }
    let log_options = LogOptions {
        logfile: (!logs_to_stdout).then(|| logfile.clone()),
        syslog: settings.syslog_enabled,
    };
    log::install(log_options, settings.loglevel);
    log::set_role(Role::Starting);
    let pid = std::process::id();
    tracing::warn!("{}", banner::STARTING);
    tracing::warn!("{}", banner::version_line(pid));
    tracing::warn!("{}", banner::keel_version_line());
    // Redis warns only when it got no argument at all.
    if no_arguments {
        tracing::warn!("{}", banner::no_config_warning(&program));
    } else {
        tracing::warn!("{}", banner::CONFIG_LOADED);
    }
    if config.settings().daemonize {
        tracing::warn!("daemonize yes is not supported: keel stays in the foreground (run it under a supervisor)");
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
    // From here on Redis knows its own pid and signs as a master (or a replica).
    log::set_role(Role::Master);
    log::follow(config.settings());
    if config.settings().syslog_enabled {
        log::open_syslog(
            &config.settings().syslog_ident,
            config.settings().syslog_facility,
        );
    }
    adjust_open_files_limit(&mut config);
    tracing::info!("{}", banner::MONOTONIC_CLOCK);
    let port = config.settings().port;
    let addrs = match listen_addrs(&config) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!("{e}");
            return 1;
        }
    };
    let mode = banner::mode(config.settings().cluster_enabled);
    let show_logo = banner::shows_logo(
        config.settings().always_show_logo,
        config.settings().syslog_enabled,
        logs_to_stdout,
        std::io::stdout().is_terminal(),
    );
    let pidfile = path_of(&config.settings().pidfile);
    let clock = Clock::new();
    let seeds = os_seeds();
    let node = Node::new(config, seeds, clock.now());
    let mut reactor = match Reactor::bind(node, clock, &addrs) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("{e}");
            tracing::warn!("Failed listening on port {port} (TCP), aborting.");
            return 1;
        }
    };
    if let Some(limit) = open_files_limit() {
        reactor.node_mut().set_open_files_limit(limit);
    }
    if let (Some(file_config), Some(path)) = (file_config, &config_path) {
        if let Ok(absolute) = std::fs::canonicalize(path) {
            reactor.node_mut().set_config_file(
                absolute.display().to_string(),
                base_config,
                file_config,
            );
        }
    }
    reactor.set_memory_purge(Box::new(purge_memory));
    reactor.set_process_info(ProcessInfo {
        os: os_name(),
        process_id: pid,
        executable: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        config_file: config_path
            .as_ref()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        total_system_memory_bytes: keel_net::total_system_memory_bytes(),
        ..ProcessInfo::default()
    });
    if !pidfile.as_os_str().is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{pid}\n")) {
            tracing::warn!("Failed to write PID file: {}", strerror(&e));
        }
    }
    if show_logo {
        tracing::info!(raw = true, "{}", banner::logo(mode, port, pid));
    } else {
        tracing::info!("{}", banner::running_mode_line(mode, port));
    }
    tracing::warn!("{}", banner::SERVER_INITIALIZED);
    // The dataset loads through the node's disk operations (clients meanwhile get
    // -LOADING); the node says "Ready to accept connections" once it is in memory.
    if !reactor.boot(keel_core::keyspace::HashSeeds(seeds.hash_seeds)) {
        tracing::info!("{}", banner::READY);
    }
    let (code, ran_to_the_end) = match reactor.run() {
        Ok(code) => (code, true),
        Err(e) => {
            tracing::warn!("event loop failed: {e}");
            (1, false)
        }
    };
    // CONFIG SET loglevel may have changed which of the last lines show.
    log::follow(reactor.node_mut().config().settings());
    if !pidfile.as_os_str().is_empty() {
        tracing::info!("{}", banner::REMOVING_PIDFILE);
        let _ = std::fs::remove_file(&pidfile);
    }
    // Redis's last line, which log watchers look for (after SHUTDOWN and signals alike).
    if ran_to_the_end {
        tracing::warn!("{}", banner::BYE);
    }
    code
}

/// Redis tries the log file once while loading its config: a log that could never be
/// written stops startup, before any line is lost.
fn try_logfile(path: &std::path::Path) -> Result<(), ConfigFileError> {
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) => Err(ConfigFileError::Fatal {
            line: None,
            message: format!("Can't open the log file: {}", strerror(&e)),
        }),
    }
}

/// strerror's text alone (std's Display appends " (os error N)").
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if e.raw_os_error().is_some() => text[..at].to_string(),
        _ => text,
    }
}

/// A path from config bytes as given (Redis paths are C strings, not UTF-8).
fn path_of(bytes: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsString::from_vec(bytes.to_vec()))
}

/// Redis's `bind` list, read by the same rule CONFIG SET checks new lists with
/// ([`bind_address_ip`]).
fn listen_addrs(config: &Config) -> Result<Vec<SocketAddr>, String> {
    let port = config.settings().port;
    let mut out = Vec::new();
    for raw in &config.settings().bind {
        let ip = bind_address_ip(raw)
            .ok_or_else(|| format!("Invalid bind address '{}'", String::from_utf8_lossy(raw)))?;
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

/// File descriptors Redis keeps for itself beyond one per client
/// (`CONFIG_MIN_RESERVED_FDS`).
const RESERVED_FDS: u64 = 32;

/// Redis's `adjustOpenFilesLimit`: raises RLIMIT_NOFILE (soft and hard) to
/// `maxclients` + 32, or to the highest value the OS allows below it (trying 16 fewer
/// each time), and lowers `maxclients` to fit when it cannot; Redis's log lines.
fn adjust_open_files_limit(config: &mut Config) {
    let maxclients = config.settings().maxclients as u64;
    let wanted = maxclients.saturating_add(RESERVED_FDS);
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == -1 {
        let e = std::io::Error::last_os_error();
        tracing::warn!("Unable to obtain the current NOFILE limit ({}), assuming 1024 and setting the max clients configuration accordingly.", strerror(&e));
        set_maxclients(config, 1024 - RESERVED_FDS);
        return;
    }
    let old = limit.rlim_cur;
    if old >= wanted {
        return;
    }
    let mut best = wanted;
    let mut error = None;
    while best > old {
        let try_limit = libc::rlimit {
            rlim_cur: best,
            rlim_max: best,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &try_limit) } != -1 {
            break;
        }
        error = Some(std::io::Error::last_os_error());
        if best < 16 {
            best = old;
            break;
        }
        best -= 16;
    }
    best = best.max(old);
    if best >= wanted {
        tracing::info!(
            "Increased maximum number of open files to {wanted} (it was originally set to {old})."
        );
        return;
    }
    if best <= RESERVED_FDS {
        tracing::warn!("Your current 'ulimit -n' of {old} is not enough for the server to start. Please increase your open file limit to at least {wanted}. Exiting.");
        std::process::exit(1);
    }
    let reduced = best - RESERVED_FDS;
    let why = error.as_ref().map(strerror).unwrap_or_default();
    tracing::warn!(
        "You requested maxclients of {maxclients} requiring at least {wanted} max file descriptors."
    );
    tracing::warn!("Server can't set maximum open files to {wanted} because of OS error: {why}.");
    tracing::warn!("Current maximum open files is {best}. maxclients has been reduced to {reduced} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.");
    set_maxclients(config, reduced);
}

/// The open-files limit now (the soft one; the hard one raised to when it is higher,
/// so a later CONFIG SET maxclients may use what Redis would raise to then).
fn open_files_limit() -> Option<u64> {
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == -1 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Some(limit.rlim_max);
        }
    }
    Some(limit.rlim_cur)
}

fn set_maxclients(config: &mut Config, maxclients: u64) {
    let value = maxclients.to_string();
    let pairs: [(&[u8], &[u8]); 1] = [(b"maxclients", value.as_bytes())];
    if let Err(e) = config.set(&pairs) {
        tracing::warn!("Could not lower maxclients to {maxclients}: {e}");
    }
}

/// MEMORY PURGE: keel-server runs on the system allocator; glibc keeps freed memory
/// (released slab chunks, shrunk indexes) in its arenas until `malloc_trim` hands the
/// free pages back to the OS, as jemalloc's purge does for Redis.
fn purge_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
