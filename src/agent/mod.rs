//! Agents plug in: Claude Code hooks (`hook.rs`), `clawgate check`
//! (`check.rs`), the MCP server (`mcp.rs`), and the small blocking
//! clients they use to reach a running gateway (`client.rs`).

pub mod check;
pub mod cmd;
pub mod hook;
pub mod mcp;
