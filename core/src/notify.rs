//! Keyspace-notification classes (`notify-keyspace-events`), as Redis's `NOTIFY_*`
//! flags. Commands name the class and event; whether anything is published is decided
//! where notifications are emitted.

/// A set of notification classes (bit flags).
pub type Class = u16;

pub const KEYSPACE: Class = 1 << 0; // K
pub const KEYEVENT: Class = 1 << 1; // E
pub const GENERIC: Class = 1 << 2; // g
pub const STRING: Class = 1 << 3; // $
pub const LIST: Class = 1 << 4; // l
pub const SET: Class = 1 << 5; // s
pub const HASH: Class = 1 << 6; // h
pub const ZSET: Class = 1 << 7; // z
pub const EXPIRED: Class = 1 << 8; // x
                                   // Redis's whole table, for classes keel has no events of yet (eviction, streams,
                                   // modules): kept so the bits stay Redis's.
#[allow(dead_code)]
pub const EVICTED: Class = 1 << 9; // e
#[allow(dead_code)]
pub const STREAM: Class = 1 << 10; // t
pub const KEY_MISS: Class = 1 << 11; // m (not part of A)
#[allow(dead_code)]
pub const LOADED: Class = 1 << 12; // module only
#[allow(dead_code)]
pub const MODULE: Class = 1 << 13; // d
pub const NEW: Class = 1 << 14; // n (not part of A)
/// `A`: every class except `m` and `n`.
#[allow(dead_code)]
pub const ALL: Class =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
