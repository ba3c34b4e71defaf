//! Scaffold: the sets commands arrive here.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
