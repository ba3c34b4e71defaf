//! See `repl/mod.rs`.
