//! Loading the dataset at startup: `dir/dbfilename` read in bounded chunks
//! (`DiskOp::Read`, one in flight) into the streaming `RdbReader`, items applied to the
//! keyspace as they come, keys already expired dropped and counted. Memory is bounded
//! by one chunk plus the largest single item, never by the file. A bad file is reported
//! with its name and offset; the caller stops the node and never touches the file.
//!
//! The plan is pluggable ([`LoadPlan`]): with `appendonly yes` the AOF loader (wt-aof)
//! loads instead, through the same `start`/`on_disk` shape.

use crate::io::{DiskError, DiskOp, DiskResult, Effect, IoId, LogLevel, Now};
use crate::keyspace::{HashSeeds, Keyspace};
use crate::persist::rdb::{LoadLimits, RdbItem, RdbReader};
use crate::server::Server;
use crate::types::Value;

/// Bytes asked for per read.
pub const READ_CHUNK_BYTES: u64 = 1 << 20;

/// At most this many keys are made room for ahead on a RESIZEDB's word (a file's
/// claim is not trusted with an allocation; past it the index grows as keys come).
pub const RESIZEDB_RESERVE_MAX: u64 = 1 << 22;

/// Where the keys an RDB stream holds go, for every loader (startup, the AOF's RDB
/// preamble, a replica's full sync): the database SELECTDB named, room made ahead on
/// RESIZEDB's word, each key inserted with its expiry.
#[derive(Debug, Default)]
pub struct RdbApplier {
    /// The database the last SELECTDB named (RESIZEDB's hints are about it).
    db: usize,
    /// A key already there is replaced by the file's (DEBUG RELOAD MERGE, Redis's
    /// `RDBFLAGS_ALLOW_DUP`); otherwise it is a bad file.
    pub allow_dup: bool,
}

impl RdbApplier {
    /// SELECTDB: Err when the file needs more databases than `ks` has.
    pub fn select(&mut self, ks: &Keyspace, db: usize) -> Result<(), String> {
        if db >= ks.databases() {
            return Err(format!(
                "Data file was created with a Redis server configured to handle more than {} databases",
                ks.databases()
            ));
        }
        self.db = db;
        Ok(())
    }

    /// RESIZEDB, Redis's `dictExpand`: room for the keys ahead, so the index does not
    /// rehash while it fills (bounded: a claim is not trusted with an allocation).
    pub fn resize(&self, ks: &mut Keyspace, keys: u64, expires: u64) {
        let room = |n: u64| n.min(RESIZEDB_RESERVE_MAX) as usize;
        ks.db_mut(self.db).reserve(room(keys), room(expires));
    }

    /// One key into `db`, with its expiry (0 or None: none). Err on a duplicate key
    /// unless `allow_dup`, or a database out of range.
    pub fn insert(
        &self,
        ks: &mut Keyspace,
        db: usize,
        key: &[u8],
        value: Value,
        expire_ms: Option<u64>,
    ) -> Result<(), String> {
        if db >= ks.databases() {
            return Err(format!("DB index {db} is out of range"));
        }
        let id = match ks.db_mut(db).try_insert(key, value) {
            Ok(id) => id,
            Err(_) if !self.allow_dup => {
                return Err(format!(
                    "RDB has duplicated key '{}' in DB {db}",
                    String::from_utf8_lossy(key)
                ))
            }
            Err((old, value)) => {
                if let Some(entry) = ks.db_mut(db).remove(old) {
                    ks.dispose(entry.value);
                }
                ks.db_mut(db).insert(key, value)
            }
        };
        if let Some(at) = expire_ms.filter(|&at| at != 0) {
            ks.db_mut(db).set_expire(id, at);
        }
        Ok(())
    }
}

/// How a load ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    /// Loaded (or there was no file): the node serves.
    Loaded,
    /// The file is bad or unreadable: the message to log; the node exits non-zero.
    Fatal(String),
}

/// A loader the node drives while it boots: the RDB one here, the AOF one (wt-aof)
/// plugs in through this trait. Clients' input waits until the loader either sets
/// `server.persist.loading` (it found data: clients get `-LOADING` until it ends) or
/// returns an outcome (nothing to load: they run at once).
pub trait Loader: Send {
    /// Issues the first reads.
    fn start(&mut self, ks: &mut Keyspace, server: &mut Server, now: Now);
    fn claims(&self, io: IoId) -> bool;
    /// A read came back; returns the outcome once loading ended.
    fn on_disk(
        &mut self,
        io: IoId,
        result: DiskResult,
        ks: &mut Keyspace,
        server: &mut Server,
        now: Now,
    ) -> Option<LoadOutcome>;
}

/// What the node loads at boot.
pub enum LoadPlan {
    /// Nothing (a node with no persistence to read, the simulator's default).
    Nothing,
    Rdb(Box<RdbLoad>),
    /// Any other loader (the AOF's).
    Custom(Box<dyn Loader>),
}

impl std::fmt::Debug for LoadPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LoadPlan::Nothing => "Nothing",
            LoadPlan::Rdb(_) => "Rdb",
            LoadPlan::Custom(_) => "Custom",
        })
    }
}

/// Reads one RDB file into the keyspace.
pub struct RdbLoad {
    pub path: String,
    reader: RdbReader,
    /// Next offset to read from.
    offset: u64,
    inflight: Option<IoId>,
    eof: bool,
    started_mono_ms: u64,
    pub keys_loaded: u64,
    pub keys_expired: u64,
    /// Whether the file existed (a missing file is an empty dataset).
    found: bool,
    /// Where the keys go (`applier.allow_dup`: DEBUG RELOAD MERGE).
    pub applier: RdbApplier,
    /// A master's boot (Redis's `RDBFLAGS_FEED_REPL`): a key dropped as expired is
    /// deleted by a DEL in the replication stream, so a replica that continues the
    /// file's history drops it too.
    pub feed_repl: bool,
}

impl RdbLoad {
    pub fn new(path: String, limits: LoadLimits) -> RdbLoad {
        RdbLoad {
            path,
            reader: RdbReader::new(limits),
            offset: 0,
            inflight: None,
            eof: false,
            started_mono_ms: 0,
            keys_loaded: 0,
            keys_expired: 0,
            found: false,
            applier: RdbApplier::default(),
            feed_repl: false,
        }
    }

    /// Whether the file was there (a load of a missing file ends `Loaded`, empty).
    pub fn found(&self) -> bool {
        self.found
    }

    /// The plan for `server`'s config: the RDB file `dbfilename`.
    pub fn for_config(server: &Server, seeds: HashSeeds) -> RdbLoad {
        let s = server.config.settings();
        let path = String::from_utf8_lossy(&s.dbfilename).into_owned();
        let mut load = RdbLoad::new(path, LoadLimits::from_settings(s, seeds));
        // The node's planted bug reaches the reader (the simulator's mutants).
        load.reader.set_mutants(server.mutants);
        load
    }

    fn read_next(&mut self, server: &mut Server) {
        let io = server.draw_io_id();
        self.inflight = Some(io);
        server.effects.push_back(Effect::Disk {
            io,
            op: DiskOp::Read {
                path: self.path.clone(),
                offset: self.offset,
                len: READ_CHUNK_BYTES,
            },
        });
    }

    fn fatal(&self, what: String) -> LoadOutcome {
        LoadOutcome::Fatal(format!(
            "Fatal error loading the DB ({}): {what}. Exiting.",
            self.path
        ))
    }

    /// Applies every complete item the reader holds; Err on a bad file.
    fn apply_items(
        &mut self,
        ks: &mut Keyspace,
        server: &mut Server,
        now: Now,
    ) -> Result<bool, String> {
        loop {
            match self.reader.next() {
                Ok(None) => return Ok(false),
                Ok(Some(RdbItem::End)) => return Ok(true),
                Ok(Some(RdbItem::Aux { key, value })) => self.on_aux(&key, &value, server, now),
                Ok(Some(RdbItem::SelectDb(db))) => self.applier.select(ks, db)?,
                Ok(Some(RdbItem::ResizeDb { keys, expires })) => {
                    self.applier.resize(ks, keys, expires)
                }
                Ok(Some(RdbItem::Key {
                    db,
                    key,
                    value,
                    expire_ms,
                    lru_idle_secs: _,
                    lfu_freq: _,
                })) => {
                    // Redis drops keys already expired when a master loads (a
                    // replica keeps them: its master's DEL comes in the stream).
                    if expire_ms.is_some_and(|at| at < now.wall_ms) && !server.replica.is_replica()
                    {
                        self.keys_expired += 1;
                        if self.feed_repl {
                            let verb: &[u8] = match server.config.settings().lazyfree_lazy_expire {
                                true => b"UNLINK",
                                false => b"DEL",
                            };
                            server.propagation.record(db, &[verb, &key[..]]);
                            server
                                .repl_master
                                .feed(&mut server.propagation, &mut server.repl);
                        }
                        continue;
                    }
                    self.applier.insert(ks, db, &key, value, expire_ms)?;
                    self.keys_loaded += 1;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn on_aux(&mut self, key: &[u8], value: &[u8], server: &mut Server, now: Now) {
        let text = String::from_utf8_lossy(value);
        match key {
            b"redis-ver" => server.log(
                LogLevel::Notice,
                format!("Loading RDB produced by version {text}"),
            ),
            b"ctime" => {
                if let Ok(ctime) = text.parse::<i64>() {
                    let age = (now.wall_ms / 1000) as i64 - ctime;
                    server.log(LogLevel::Notice, format!("RDB age {age} seconds"));
                }
            }
            b"used-mem" => {
                if let Ok(used) = text.parse::<u64>() {
                    server.persist.loading_rdb_used_mem_bytes = used;
                    server.log(
                        LogLevel::Notice,
                        format!(
                            "RDB memory usage when created {:.2} Mb",
                            used as f64 / (1024.0 * 1024.0)
                        ),
                    );
                }
            }
            // The history the file records (`Node::repl_after_load` uses it), read
            // as Redis's rdbLoadRio does: an id of any other length is ignored.
            b"repl-id" => {
                server.persist.loaded_repl.replid = (value.len() == 40).then(|| text.into_owned());
            }
            b"repl-offset" => server.persist.loaded_repl.offset = text.parse::<i64>().ok(),
            b"repl-stream-db" => {
                server.persist.loaded_repl.stream_db = text.parse::<i64>().ok();
            }
            _ => {}
        }
    }

    fn finish(&mut self, server: &mut Server, now: Now) -> LoadOutcome {
        server.persist.last_load_keys_loaded = self.keys_loaded;
        server.persist.last_load_keys_expired = self.keys_expired;
        if self.found {
            server.log(
                LogLevel::Notice,
                format!(
                    "Done loading RDB, keys loaded: {}, keys expired: {}.",
                    self.keys_loaded, self.keys_expired
                ),
            );
            let secs = now.mono_ms.saturating_sub(self.started_mono_ms) as f64 / 1000.0;
            server.log(
                LogLevel::Notice,
                format!("DB loaded from disk: {secs:.3} seconds"),
            );
        }
        LoadOutcome::Loaded
    }
}

impl Loader for RdbLoad {
    fn start(&mut self, _ks: &mut Keyspace, server: &mut Server, now: Now) {
        self.started_mono_ms = now.mono_ms;
        server.persist.loaded_repl = crate::server::LoadedRepl::default();
        self.read_next(server);
    }

    fn claims(&self, io: IoId) -> bool {
        self.inflight == Some(io)
    }

    fn on_disk(
        &mut self,
        io: IoId,
        result: DiskResult,
        ks: &mut Keyspace,
        server: &mut Server,
        now: Now,
    ) -> Option<LoadOutcome> {
        if self.inflight != Some(io) {
            return None;
        }
        self.inflight = None;
        let bytes = match result {
            DiskResult::Failed(DiskError::NotFound) if self.offset == 0 => {
                // No file: an empty dataset, as Redis.
                return Some(self.finish(server, now));
            }
            DiskResult::Failed(e) => {
                let why = match e {
                    DiskError::Io => "Input/output error",
                    DiskError::NoSpace => "No space left on device",
                    DiskError::NotFound => "No such file or directory",
                    DiskError::NotADirectory => "Not a directory",
                    DiskError::PermissionDenied => "Permission denied",
                };
                return Some(self.fatal(format!("read failed at offset {}: {why}", self.offset)));
            }
            DiskResult::Done { read } => read,
        };
        self.found = true;
        // There is a file: clients get -LOADING from now on.
        server.persist.loading = true;
        let got = bytes.len() as u64;
        self.offset = self.offset.saturating_add(got);
        server.persist.loading_loaded_bytes = self.offset;
        if got < READ_CHUNK_BYTES {
            self.eof = true;
        }
        self.reader.feed(&bytes);
        drop(bytes);
        if self.eof {
            self.reader.end_of_input();
        }
        match self.apply_items(ks, server, now) {
            Err(e) => Some(self.fatal(e)),
            Ok(true) => Some(self.finish(server, now)),
            Ok(false) if self.eof => Some(self.fatal(format!(
                "Short read or OOM loading DB at offset {}",
                self.offset
            ))),
            Ok(false) => {
                self.read_next(server);
                None
            }
        }
    }
}
