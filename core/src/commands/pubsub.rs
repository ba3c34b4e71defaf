//! Scaffold: the pubsub commands arrive here.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
