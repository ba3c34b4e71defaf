//! Scaffold: the transactions commands arrive here.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
