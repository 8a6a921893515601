//! What agents call to be guarded without speaking the gateway's protocol.
//! `clawgate check` (here): a command or a JSON tool call in, the coach's
//! decision out as JSON, and an exit code any hook system can read.

pub mod check;
