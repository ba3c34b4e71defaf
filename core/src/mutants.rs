//! Planted bugs for the simulator's checkers to catch (`mutants` feature). A node is
//! handed at most one active mutant at run time; without the feature every check is a
//! constant `false` and compiles away.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutant {
    /// TTL comparison off by one: a key is treated as gone at its expire time, one ms
    /// before Redis lets it go.
    TtlOffByOne,
    /// Lazy expiry hands out the expired value instead of deleting it.
    LazyExpireReturnsStale,
    /// INCR writes back the old value when more commands are pipelined behind it.
    IncrLosesPipelinedUpdate,
    /// A SET is acknowledged but not applied.
    SetAckedNotApplied,
    /// The maxmemory check before writes is skipped.
    OomCheckSkipped,
    /// LREM removes one more matching element than asked for.
    LremRemovesOneTooMany,
    /// SREM reports a removal for a member that was not in the set.
    SremCountsMissingMember,
    /// ZADD GT updates the score when the new score is equal.
    ZaddGtUpdatesOnEqual,
    /// WATCH does not notice a watched key that expired before EXEC.
    WatchMissesExpiry,
    /// SPOP is propagated as SPOP, so a replica draws its own member.
    SpopPropagatedVerbatim,
    /// volatile-* policies sample and evict keys without a TTL too.
    VolatileEvictsPersistent,
    /// The LFU counter never decays with idle time.
    LfuNeverDecays,
    /// The sampled policies give up when the eviction pool is empty, instead of
    /// sampling to fill it (so they never evict).
    EvictionSkippedOnEmptyPool,
    /// LRANGE takes its end index as exclusive (an outsider's off-by-one).
    LrangeEndExclusive,
    /// LPOP/RPOP with a count pop one element fewer than asked.
    PopCountOneShort,
    /// APPEND replies with the length before the append.
    AppendRepliesOldLength,
    /// HSET counts updated fields as created.
    HsetCountsUpdates,
    /// DEL counts a key that was not there.
    DelCountsMissingKey,
    /// EXISTS looks in the table without the expiry check (a lazily expired key counts).
    ExistsSeesExpired,
    /// ZRANK counts ranks from one.
    ZrankFromOne,
    /// INCR/INCRBY drop the key's TTL (Redis keeps it).
    IncrDropsTtl,
    /// The active expire cycle compares TTLs (wall-clock times) with the monotonic clock, so it never finds a key expired.
    ActiveExpireOnMonotonicClock,
    /// The RDB loader accepts a file whose CRC64 footer does not match its bytes.
    RdbCrcCheckSkipped,
    /// A save renames the temp RDB onto `dbfilename` before the temp file's fsync, so
    /// a crash can leave a named file whose bytes were never durable.
    RenameBeforeFsync,
    /// Under `appendfsync always` a reply leaves once its write is appended, before
    /// the fsync that makes it durable.
    ReplyBeforeFsync,
    /// The AOF writes absolute expiries back as relative ones (PEXPIRE, SET PX), so
    /// a replay later extends every TTL.
    RelativeExpiryInAof,
    /// A rewrite renames its new base and switches the manifest without fsyncing
    /// the base first.
    ManifestBeforeBaseSynced,
    /// A replica runs the active expire cycle itself instead of waiting for its
    /// master's DELs.
    ReplicaExpiresKeys,
    /// HSET that turns a listpack hash into a hashtable loses the first field the
    /// conversion copied (an outsider's conversion bug).
    HashConvertLosesField,
    /// ZADD that turns a listpack sorted set into a skiplist loses the lowest-ranked
    /// member.
    ZsetConvertLosesMember,
    /// The active expire cycle deletes expired keys without propagating their DELs,
    /// so replicas and the AOF keep them.
    ActiveExpireNotPropagated,
    /// An evicted key's DEL is not propagated, so replicas and the AOF keep a key
    /// the node evicted.
    EvictionNotPropagated,
    /// A partial resync serves the backlog from one byte past the offset asked for.
    BacklogOffsetOffByOne,
    /// PSYNC continues with a replication id that is not the master's.
    PsyncWrongReplidAccepted,
    /// PSYNC with the master's previous replication id continues past the switch
    /// point (`second_replid_offset` is not checked): the replica keeps writes the
    /// new history never had.
    PsyncPreviousIdPastSwitch,
    /// A promoted master never continues its previous history (replid2 ignored, as
    /// before PSYNC2): its former master and fellow replicas always full-sync.
    PsyncPreviousIdRefused,
    /// A master restarted from an RDB file takes the file's offset but forgets its
    /// history (no replid2): a replica at exactly that offset full-syncs instead of
    /// continuing.
    RestartForgetsReplid,
    /// WAIT counts a replica that ACKed an offset before the client's write.
    WaitCountsStaleAck,
    /// FAILOVER hands over without waiting for the replica to ACK the whole stream,
    /// so writes acknowledged before it are lost.
    FailoverSkipsCatchup,
    /// A replica serving a chain relays its own re-encoding of its master's stream
    /// (the data commands, as its AOF gets them) instead of the bytes it received:
    /// PINGs and REPLCONF GETACKs are left out, so its replicas' offsets drift from
    /// its own.
    ChainRelayReencodes,
    /// PUBLISH counts each pattern subscriber twice in its reply (the messages go
    /// out once): an outsider's counting slip in the pattern loop.
    PublishCountsPatternsTwice,
    /// A demoted master's rollback cut starts one data command late: the first write
    /// its new master may lack is not in the rollback file.
    RollbackCutStartsLate,
    /// A demoted master's rollback file misses the last write it ran as a master.
    RollbackFileDropsLast,
    /// Clients blocked on a key are served last blocked first (Redis serves them in
    /// the order they blocked).
    BlockedServedLifo,
    /// A blocking command's timeout fires after half its time.
    BlockTimeoutHalved,
    /// The good-replica count behind `min-replicas-to-write` ignores
    /// `min-replicas-max-lag`: every online replica counts, however long it has been
    /// silent (a partitioned or paused one too).
    MinReplicasCountsLagging,
    /// A promoted master (one with a previous replication id: FAILOVER or
    /// REPLICAOF NO ONE made it a master) never refuses a write for want of good
    /// replicas.
    MinReplicasOffAfterPromotion,
    /// The good-replica count reads the lag as Redis 7.0 does, in signed whole
    /// seconds of the wall clock: a backward wall jump keeps silent replicas good.
    MinReplicasLagOnWallClock,
    /// FLUSHALL leaves database 1 as it was (an outsider's loop that skips an index).
    FlushallKeepsDb1,
    /// FLUSHALL empties the databases without touching their watched keys, so a
    /// transaction watching a flushed key still runs.
    FlushallSkipsWatchTouch,
    /// INCR/INCRBY send their `incrby` notification before checking the value, so a
    /// refused INCR (not an integer, overflow) notifies a write that never happened.
    IncrNotifiesBeforeCheck,
    /// INCR (by one) names its event `incr` (Redis: `incrby` for both).
    IncrNotifiesWrongEvent,
    /// Keyspace notifications name the database after the client's (`@1` for 0).
    NotifyWrongDb,
    /// A TTL index chunk turning dense drops one of its map's entries (the key keeps
    /// its "has TTL" bit but its expire time is gone): only the `ttl-index` scenario's
    /// small scale gets a chunk dense.
    TtlDenseDropsEntry,
    /// A key index segment split files one key under the wrong half, where no lookup
    /// finds it (the key is in the slab but GET misses it and SET adds a second copy):
    /// only the `ttl-index` scenario's small scale splits segments.
    IndexSplitMisplaces,
}

impl Mutant {
    pub const ALL: [Mutant; 55] = [
        Mutant::TtlOffByOne,
        Mutant::LazyExpireReturnsStale,
        Mutant::IncrLosesPipelinedUpdate,
        Mutant::SetAckedNotApplied,
        Mutant::OomCheckSkipped,
        Mutant::LremRemovesOneTooMany,
        Mutant::SremCountsMissingMember,
        Mutant::ZaddGtUpdatesOnEqual,
        Mutant::WatchMissesExpiry,
        Mutant::SpopPropagatedVerbatim,
        Mutant::LrangeEndExclusive,
        Mutant::PopCountOneShort,
        Mutant::AppendRepliesOldLength,
        Mutant::HsetCountsUpdates,
        Mutant::DelCountsMissingKey,
        Mutant::ExistsSeesExpired,
        Mutant::ZrankFromOne,
        Mutant::IncrDropsTtl,
        Mutant::ActiveExpireOnMonotonicClock,
        Mutant::VolatileEvictsPersistent,
        Mutant::EvictionSkippedOnEmptyPool,
        Mutant::HashConvertLosesField,
        Mutant::ZsetConvertLosesMember,
        Mutant::ActiveExpireNotPropagated,
        Mutant::RdbCrcCheckSkipped,
        Mutant::RenameBeforeFsync,
        Mutant::ReplyBeforeFsync,
        Mutant::RelativeExpiryInAof,
        Mutant::ManifestBeforeBaseSynced,
        Mutant::BacklogOffsetOffByOne,
        Mutant::PsyncWrongReplidAccepted,
        Mutant::PsyncPreviousIdPastSwitch,
        Mutant::PsyncPreviousIdRefused,
        Mutant::RestartForgetsReplid,
        Mutant::ReplicaExpiresKeys,
        Mutant::WaitCountsStaleAck,
        Mutant::EvictionNotPropagated,
        Mutant::LfuNeverDecays,
        Mutant::ChainRelayReencodes,
        Mutant::FailoverSkipsCatchup,
        Mutant::PublishCountsPatternsTwice,
        Mutant::RollbackCutStartsLate,
        Mutant::RollbackFileDropsLast,
        Mutant::BlockedServedLifo,
        Mutant::BlockTimeoutHalved,
        Mutant::MinReplicasCountsLagging,
        Mutant::MinReplicasOffAfterPromotion,
        Mutant::MinReplicasLagOnWallClock,
        Mutant::FlushallKeepsDb1,
        Mutant::FlushallSkipsWatchTouch,
        Mutant::IncrNotifiesBeforeCheck,
        Mutant::IncrNotifiesWrongEvent,
        Mutant::NotifyWrongDb,
        Mutant::TtlDenseDropsEntry,
        Mutant::IndexSplitMisplaces,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mutant::TtlOffByOne => "ttl-off-by-one",
            Mutant::LazyExpireReturnsStale => "lazy-expire-returns-stale",
            Mutant::IncrLosesPipelinedUpdate => "incr-loses-pipelined-update",
            Mutant::SetAckedNotApplied => "set-acked-not-applied",
            Mutant::OomCheckSkipped => "oom-check-skipped",
            Mutant::LremRemovesOneTooMany => "lrem-removes-one-too-many",
            Mutant::SremCountsMissingMember => "srem-counts-missing-member",
            Mutant::ZaddGtUpdatesOnEqual => "zadd-gt-updates-on-equal",
            Mutant::WatchMissesExpiry => "watch-misses-expiry",
            Mutant::SpopPropagatedVerbatim => "spop-propagated-verbatim",
            Mutant::VolatileEvictsPersistent => "volatile-evicts-persistent",
            Mutant::LfuNeverDecays => "lfu-never-decays",
            Mutant::EvictionSkippedOnEmptyPool => "eviction-skipped-on-empty-pool",
            Mutant::LrangeEndExclusive => "lrange-end-exclusive",
            Mutant::PopCountOneShort => "pop-count-one-short",
            Mutant::AppendRepliesOldLength => "append-replies-old-length",
            Mutant::HsetCountsUpdates => "hset-counts-updates",
            Mutant::DelCountsMissingKey => "del-counts-missing-key",
            Mutant::ExistsSeesExpired => "exists-sees-expired",
            Mutant::ZrankFromOne => "zrank-from-one",
            Mutant::IncrDropsTtl => "incr-drops-ttl",
            Mutant::ActiveExpireOnMonotonicClock => "active-expire-on-monotonic-clock",
            Mutant::RdbCrcCheckSkipped => "rdb-crc-check-skipped",
            Mutant::RenameBeforeFsync => "rename-before-fsync",
            Mutant::ReplyBeforeFsync => "reply-before-fsync",
            Mutant::RelativeExpiryInAof => "relative-expiry-in-aof",
            Mutant::ManifestBeforeBaseSynced => "manifest-before-base-synced",
            Mutant::ReplicaExpiresKeys => "replica-expires-keys",
            Mutant::HashConvertLosesField => "hash-convert-loses-field",
            Mutant::ZsetConvertLosesMember => "zset-convert-loses-member",
            Mutant::ActiveExpireNotPropagated => "active-expire-not-propagated",
            Mutant::EvictionNotPropagated => "eviction-not-propagated",
            Mutant::BacklogOffsetOffByOne => "backlog-offset-off-by-one",
            Mutant::PsyncWrongReplidAccepted => "psync-wrong-replid-accepted",
            Mutant::PsyncPreviousIdPastSwitch => "psync-previous-id-past-switch",
            Mutant::PsyncPreviousIdRefused => "psync-previous-id-refused",
            Mutant::RestartForgetsReplid => "restart-forgets-replid",
            Mutant::WaitCountsStaleAck => "wait-counts-stale-ack",
            Mutant::FailoverSkipsCatchup => "failover-skips-catchup",
            Mutant::ChainRelayReencodes => "chain-relay-reencodes",
            Mutant::PublishCountsPatternsTwice => "publish-counts-patterns-twice",
            Mutant::RollbackCutStartsLate => "rollback-cut-starts-late",
            Mutant::RollbackFileDropsLast => "rollback-file-drops-last",
            Mutant::BlockedServedLifo => "blocked-served-lifo",
            Mutant::BlockTimeoutHalved => "block-timeout-halved",
            Mutant::MinReplicasCountsLagging => "min-replicas-counts-lagging",
            Mutant::MinReplicasOffAfterPromotion => "min-replicas-off-after-promotion",
            Mutant::MinReplicasLagOnWallClock => "min-replicas-lag-on-wall-clock",
            Mutant::FlushallKeepsDb1 => "flushall-keeps-db1",
            Mutant::FlushallSkipsWatchTouch => "flushall-skips-watch-touch",
            Mutant::IncrNotifiesBeforeCheck => "incr-notifies-before-check",
            Mutant::IncrNotifiesWrongEvent => "incr-notifies-wrong-event",
            Mutant::NotifyWrongDb => "notify-wrong-db",
            Mutant::TtlDenseDropsEntry => "ttl-dense-drops-entry",
            Mutant::IndexSplitMisplaces => "index-split-misplaces",
        }
    }

    /// Planted bugs the simulator's sweep does not reach yet; they join `ALL` once it
    /// does. None today: every planted bug is caught by a sweep.
    pub const PENDING: [Mutant; 0] = [];

    pub fn from_name(name: &str) -> Option<Mutant> {
        Mutant::ALL
            .into_iter()
            .chain(Mutant::PENDING)
            .find(|m| m.name() == name)
    }
}

/// The active mutant of one node, if any.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mutants {
    #[cfg(feature = "mutants")]
    pub active: Option<Mutant>,
}

impl Mutants {
    #[inline(always)]
    pub fn is(&self, _m: Mutant) -> bool {
        #[cfg(feature = "mutants")]
        {
            self.active == Some(_m)
        }
        #[cfg(not(feature = "mutants"))]
        {
            false
        }
    }
}
