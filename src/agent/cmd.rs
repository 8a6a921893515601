//! The agent-side commands: `clawgate check`, `clawgate hook claude-code`,
//! `clawgate hook install claude-code` and `clawgate mcp`. Each returns an
//! exit code; `main.rs` only dispatches here.
//!
//! Every one fails closed: when the gateway cannot be asked, the answer is
//! a deny (exit 2, or Claude Code's `deny`) that says the gateway is
//! unreachable, never an allow.

use super::{check, hook, mcp};
use crate::client::{self, Client, ClientError, Target};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Scopes an agent asks for; an agent credential carries at most these.
pub const AGENT_SCOPES: &[&str] = &["operator.read", "operator.write"];
/// Client id agents connect with (one per tool, so the gateway's
/// per-client bounds and the audit trail tell them apart).
pub const CHECK_CLIENT_ID: &str = "clawgate-check";
/// How long `check --url` waits for the gateway, a held approval
/// included (`--wait-ms` overrides; the gateway's own
/// `agents.holdTimeoutMs` ends a hold first).
pub const DEFAULT_WAIT_MS: u64 = 130_000;
/// The hook timeout written into Claude Code's settings, seconds: above
/// the gateway's default hold (120 s) so a held call is answered first.
pub const HOOK_TIMEOUT_S: u64 = 130;

/// Command-line flags shared by the agent commands.
#[derive(Debug, Default)]
pub struct AgentFlags {
    pub url: Option<String>,
    pub token: Option<String>,
    pub offline: bool,
    pub hold: bool,
    pub wait_ms: Option<u64>,
    pub http: Option<String>,
    pub settings: Option<PathBuf>,
    pub roots: Vec<PathBuf>,
    pub local: bool,
    pub rest: Vec<String>,
}

fn parse_flags(args: &[String], allowed: &[&str]) -> Result<AgentFlags, String> {
    let mut f = AgentFlags::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            f.rest.extend(args[i + 1..].iter().cloned());
            break;
        }
        if !a.starts_with("--") || !f.rest.is_empty() {
            f.rest.push(args[i].clone());
            i += 1;
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a, None),
        };
        if !allowed.contains(&name) {
            return Err(format!(
                "unknown flag {name} (allowed: {})",
                allowed.join(", ")
            ));
        }
        let takes_value = !matches!(name, "--offline" | "--hold" | "--local");
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    Some(
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| format!("{name} needs a value"))?,
                    )
                }
            }
        } else {
            None
        };
        match name {
            "--url" => f.url = value,
            "--token" => f.token = value,
            "--offline" => f.offline = true,
            "--hold" => f.hold = true,
            "--local" => f.local = true,
            "--wait-ms" => {
                f.wait_ms = Some(
                    value
                        .unwrap_or_default()
                        .parse()
                        .map_err(|_| "--wait-ms: a whole number of milliseconds".to_string())?,
                )
            }
            "--http" => f.http = value,
            "--settings" => f.settings = value.map(PathBuf::from),
            "--root" => f.roots.push(PathBuf::from(value.unwrap_or_default())),
            _ => unreachable!("checked against allowed"),
        }
        i += 1;
    }
    Ok(f)
}

fn read_stdin(max: usize) -> Result<String, String> {
    let mut s = String::new();
    let mut limited = std::io::stdin().take(max as u64 + 1);
    if limited.read_to_string(&mut s).is_err() || s.len() > max {
        return Err(format!("stdin is not UTF-8 text of at most {max} bytes"));
    }
    Ok(s)
}

/// `clawgate check [--offline | --url URL --token T] [--hold] [COMMAND...]`.
pub fn run_check(args: &[String]) -> u8 {
    let f = match parse_flags(
        args,
        &["--offline", "--url", "--token", "--hold", "--wait-ms"],
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("clawgate check: {e}");
            return check::EXIT_BAD_INPUT;
        }
    };
    let stdin = if f.rest.is_empty() {
        match read_stdin(check::MAX_STDIN_BYTES) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("clawgate check: {e}");
                return check::EXIT_BAD_INPUT;
            }
        }
    } else {
        String::new()
    };
    let input = match check::input_from(&f.rest, &stdin) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("clawgate check: {e}");
            return check::EXIT_BAD_INPUT;
        }
    };
    let (out, code) = if f.offline {
        check::judge(&input)
    } else {
        let wait = Duration::from_millis(f.wait_ms.unwrap_or(DEFAULT_WAIT_MS));
        match gateway_check(&f, &input, wait) {
            Ok(answer) => check::from_gateway(&answer),
            Err(e) => {
                let msg = format!("{e}");
                eprintln!("clawgate check: {msg}; blocked to be safe (use --offline for the embedded coach)");
                (
                    json!({"decision": "block", "reason": msg, "source": "gateway", "error": true}),
                    check::EXIT_BLOCK,
                )
            }
        }
    };
    println!("{out}");
    code
}

fn gateway_check(
    f: &AgentFlags,
    input: &crate::coach::CheckInput,
    wait: Duration,
) -> Result<Value, ClientError> {
    let target = Target::from_env(f.url.clone(), f.token.clone())?;
    let mut c = Client::connect(&target, CHECK_CLIENT_ID, AGENT_SCOPES)?;
    let tool = input.tool_name.clone().unwrap_or_else(|| "command".into());
    let params = json!({"input": input, "tool": tool, "hold": f.hold});
    let r = c.call("agent.check", params, wait);
    c.close();
    r
}

/// `clawgate hook claude-code [--url URL --token T]`: Claude Code's hook
/// input on stdin, posted to the gateway's `/hooks/claude-code`; its answer
/// on stdout, exit 0. When the gateway cannot answer: a `deny` saying
/// why, and exit 2 (fail closed either way Claude Code reads it).
pub fn run_hook(args: &[String]) -> u8 {
    match args.first().map(String::as_str) {
        Some("claude-code") => hook_claude_code(&args[1..]),
        Some("install") => hook_install(&args[1..]),
        _ => {
            eprintln!("clawgate hook: expected `claude-code` or `install claude-code`");
            2
        }
    }
}

fn hook_claude_code(args: &[String]) -> u8 {
    // Claude Code blocks on exit 2 (reading stderr) and on a `deny` in
    // the JSON: both, so either reading refuses the call.
    let deny = |why: &str| {
        println!("{}", hook::deny_output(why));
        eprintln!("clawgate: {why}; denied to be safe");
        2
    };
    let f = match parse_flags(args, &["--url", "--token", "--wait-ms"]) {
        Ok(f) => f,
        Err(e) => return deny(&format!("bad hook command line: {e}")),
    };
    let body = match read_stdin(hook::MAX_BODY_BYTES) {
        Ok(b) => b,
        Err(e) => return deny(&e),
    };
    let target = match Target::from_env(f.url.clone(), f.token.clone()) {
        Ok(t) => t,
        Err(e) => return deny(&e.to_string()),
    };
    let wait = Duration::from_millis(f.wait_ms.unwrap_or(DEFAULT_WAIT_MS));
    match client::post_json(
        &target.url,
        "/hooks/claude-code",
        &target.token,
        body.as_bytes(),
        wait,
        hook::MAX_BODY_BYTES,
    ) {
        Ok((200, answer)) => {
            let _ = std::io::stdout().write_all(&answer);
            println!();
            0
        }
        Ok((status, answer)) => {
            let why = String::from_utf8_lossy(&answer);
            deny(&format!(
                "the gateway refused the hook ({status}: {})",
                why.trim()
            ))
        }
        Err(e) => deny(&e.to_string()),
    }
}

/// `clawgate hook install claude-code [--http URL] [--settings FILE]`.
fn hook_install(args: &[String]) -> u8 {
    if args.first().map(String::as_str) != Some("claude-code") {
        eprintln!("clawgate hook install: expected `claude-code`");
        return 2;
    }
    let f = match parse_flags(&args[1..], &["--http", "--settings"]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("clawgate hook install: {e}");
            return 2;
        }
    };
    let snippet = hook::settings_snippet(f.http.as_deref(), HOOK_TIMEOUT_S);
    let Some(path) = f.settings else {
        println!(
            "{}",
            serde_json::to_string_pretty(&snippet).unwrap_or_default()
        );
        return 0;
    };
    match install_into(&path, &snippet) {
        Ok(backup) => {
            match backup {
                Some(b) => eprintln!(
                    "clawgate: hooks merged into {} (previous file kept as {})",
                    path.display(),
                    b.display()
                ),
                None => eprintln!("clawgate: hooks written to {}", path.display()),
            }
            0
        }
        Err(e) => {
            eprintln!("clawgate hook install: {}: {e}", path.display());
            1
        }
    }
}

/// Merges the snippet into the settings file, keeping a backup of the old
/// one; a file that is not a JSON object is left untouched.
fn install_into(path: &std::path::Path, snippet: &Value) -> Result<Option<PathBuf>, String> {
    let (mut settings, backup) = match std::fs::read_to_string(path) {
        Ok(text) => {
            let v: Value = if text.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&text)
                    .map_err(|e| format!("not JSON ({e}); left unchanged"))?
            };
            let b = PathBuf::from(format!("{}.bak", path.display()));
            std::fs::write(&b, &text).map_err(|e| format!("backup {}: {e}", b.display()))?;
            (v, Some(b))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (json!({}), None),
        Err(e) => return Err(e.to_string()),
    };
    hook::merge_settings(&mut settings, snippet)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let text = serde_json::to_string_pretty(&settings).unwrap_or_default() + "\n";
    std::fs::write(&tmp, text).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())?;
    Ok(backup)
}

/// `clawgate mcp [--url URL --token T] [--root DIR]... [--local]`.
pub fn run_mcp(args: &[String]) -> u8 {
    let f = match parse_flags(
        args,
        &["--url", "--token", "--root", "--local", "--wait-ms"],
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("clawgate mcp: {e}");
            return 2;
        }
    };
    let target = match Target::from_env(f.url.clone(), f.token.clone()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("clawgate mcp: {e}");
            return 2;
        }
    };
    let roots = if f.roots.is_empty() {
        vec![std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))]
    } else {
        f.roots.clone()
    };
    let opts = mcp::Options {
        target,
        roots,
        local: f.local,
        wait: Duration::from_millis(f.wait_ms.unwrap_or(DEFAULT_WAIT_MS)),
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    mcp::serve(&opts, &mut stdin.lock(), &mut stdout.lock());
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn test_flags_then_command() {
        let f = parse_flags(
            &s(&["--url", "ws://h:1", "--hold", "rm", "-rf", "/"]),
            &["--url", "--hold"],
        )
        .unwrap();
        assert_eq!(f.url.as_deref(), Some("ws://h:1"));
        assert!(f.hold);
        assert_eq!(f.rest, s(&["rm", "-rf", "/"]));
        // Flags after the command belong to the command.
        let f = parse_flags(&s(&["ls", "--url", "x"]), &["--url"]).unwrap();
        assert_eq!(f.rest, s(&["ls", "--url", "x"]));
        assert!(parse_flags(&s(&["--nope"]), &["--url"]).is_err());
        assert!(parse_flags(&s(&["--url"]), &["--url"]).is_err());
    }
}
