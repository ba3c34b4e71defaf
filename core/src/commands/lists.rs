//! Scaffold: the lists commands arrive here.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
