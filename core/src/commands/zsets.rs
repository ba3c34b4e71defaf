//! Scaffold: the zsets commands arrive here.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
