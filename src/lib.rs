//! clawgate: a security gateway for AI agents on one mio loop.
//!
//! Start with `ARCHITECTURE.md`. Subsystems, bottom up: `config`, `protocol`
//! (bytes to typed requests), `net` (connections), `gateway` (dispatch, pool,
//! batching), `reactor` (the loop and its timers), `observe` (process health),
//! `coach` (classifies tool calls before they run), `exec` (children),
//! `forward` (audit copies to a collector), `notify` (approvals on a phone), `dashboard` (the page at `/`).

pub mod agent;
pub mod cli;
pub mod client;
pub mod coach;
pub mod config;
pub mod dashboard;
pub mod encoding;
pub mod exec;
pub mod forward;
pub mod gateway;
pub mod matcher;
pub mod net;
pub mod notify;
pub mod observe;
pub mod protocol;
pub mod reactor;
pub mod store;
pub mod workers;
