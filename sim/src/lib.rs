//! keel-sim: the deterministic simulator (minimal harness for now; see issue 3).
