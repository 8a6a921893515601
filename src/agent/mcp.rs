//! `clawgate mcp`: an MCP server over stdio (newline-delimited JSON-RPC
//! 2.0) whose tools go through the gateway: `run_command`, `read_file`,
//! `write_file`, `list_dir`.
//!
//! - `run_command` runs on the gateway host through `exec.run` (the coach
//!   and, when it asks, a person decide there; output streams back as MCP
//!   progress), or with `--local` on this host once the gateway's
//!   `agent.check` has allowed it, reporting the outcome with
//!   `agent.report`.
//! - The file tools run here, confined to `--root` directories (symlinks
//!   resolved before the check), each call judged by `agent.check` first.
//!
//! One request at a time; a connection to the gateway per call (an MCP
//! server lives as long as its client and the gateway may restart in
//! between). Every failure to reach the gateway refuses the call.

use super::cmd::AGENT_SCOPES;
use crate::client::{Client, ClientError, Target};
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// The revision answered when the client asks for one we do not know.
pub const PROTOCOL_VERSION: &str = "2025-11-25";
/// Revisions this server speaks (the tools subset is the same in each).
pub const SUPPORTED_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// Longest JSON-RPC line read from the client.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;
/// Largest file `read_file` returns, and the default.
pub const MAX_READ_BYTES: u64 = 1024 * 1024;
/// Largest `write_file` content.
pub const MAX_WRITE_BYTES: usize = 1024 * 1024;
/// Most entries `list_dir` returns.
pub const MAX_DIR_ENTRIES: usize = 1000;
/// Output kept from a `--local` run (the tail), and from a gateway run.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// Client id the MCP server connects to the gateway with.
pub const CLIENT_ID: &str = "clawgate-mcp";

/// JSON-RPC error codes.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;

pub struct Options {
    pub target: Target,
    pub roots: Vec<PathBuf>,
    pub local: bool,
    /// Longest wait for the gateway on one call (a held approval included).
    pub wait: Duration,
}

/// Serves until stdin closes.
pub fn serve<R: BufRead>(opts: &Options, input: &mut R, out: &mut dyn Write) {
    let roots: Vec<PathBuf> = opts
        .roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .collect();
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut bounded = std::io::Read::take(&mut *input, MAX_LINE_BYTES as u64 + 1);
        let n = match bounded.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if n > MAX_LINE_BYTES {
            send(
                out,
                &error(Value::Null, INVALID_REQUEST, "message too large"),
            );
            // Skip the rest of the oversized line.
            let mut sink = Vec::new();
            if !line.ends_with(b"\n") && input.read_until(b'\n', &mut sink).is_err() {
                return;
            }
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let msg: Value = match serde_json::from_str(text.trim()) {
            Ok(v) => v,
            Err(e) => {
                send(
                    out,
                    &error(Value::Null, PARSE_ERROR, &format!("parse error: {e}")),
                );
                continue;
            }
        };
        if let Some(reply) = handle(opts, &roots, &msg, out) {
            send(out, &reply);
        }
    }
}

fn send(out: &mut dyn Write, v: &Value) {
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn result(id: Value, r: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": r})
}

/// One message: a reply for requests, `None` for notifications.
fn handle(opts: &Options, roots: &[PathBuf], msg: &Value, out: &mut dyn Write) -> Option<Value> {
    let Some(obj) = msg.as_object() else {
        return Some(error(
            Value::Null,
            INVALID_REQUEST,
            "expected a JSON-RPC object (batches are not supported)",
        ));
    };
    let id = obj.get("id").cloned();
    let valid_id = matches!(id, Some(Value::String(_)) | Some(Value::Number(_)));
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        // A response from the client (we send no requests) or garbage.
        return (valid_id && !obj.contains_key("result") && !obj.contains_key("error")).then(
            || {
                error(
                    id.clone().unwrap_or_default(),
                    INVALID_REQUEST,
                    "method is missing",
                )
            },
        );
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some(error(
            id.unwrap_or_default(),
            INVALID_REQUEST,
            "jsonrpc must be \"2.0\"",
        ));
    }
    let Some(id) = id.filter(|_| valid_id) else {
        // Notifications (initialized, cancelled, progress): nothing to say.
        return None;
    };
    let params = obj.get("params").cloned().unwrap_or(json!({}));
    Some(match method {
        "initialize" => {
            let asked = params["protocolVersion"]
                .as_str()
                .unwrap_or(PROTOCOL_VERSION);
            let version = if SUPPORTED_VERSIONS.contains(&asked) {
                asked
            } else {
                PROTOCOL_VERSION
            };
            result(
                id,
                json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": {"name": "clawgate", "version": env!("CARGO_PKG_VERSION")},
                    "instructions": "Every tool call is checked by the clawgate gateway's security coach; some wait for a person's approval. A refused call says why.",
                }),
            )
        }
        "ping" => result(id, json!({})),
        "tools/list" => result(id, json!({"tools": tools()})),
        "tools/call" => call_tool(opts, roots, id, &params, out),
        other => error(id, METHOD_NOT_FOUND, &format!("method not found: {other}")),
    })
}

fn tools() -> Value {
    json!([
        {
            "name": "run_command",
            "description": "Run a shell command after clawgate's security coach (and, when it asks, a person) allowed it. Returns the output and the exit code.",
            "inputSchema": {"type": "object", "properties": {
                "command": {"type": "string", "description": "the shell command"},
                "cwd": {"type": "string", "description": "working directory"},
                "timeoutMs": {"type": "integer", "minimum": 1}
            }, "required": ["command"]}
        },
        {
            "name": "read_file",
            "description": "Read a text file inside the configured roots, after the coach allowed it.",
            "inputSchema": {"type": "object", "properties": {
                "path": {"type": "string"},
                "maxBytes": {"type": "integer", "minimum": 1}
            }, "required": ["path"]}
        },
        {
            "name": "write_file",
            "description": "Write a text file inside the configured roots, after the coach allowed it.",
            "inputSchema": {"type": "object", "properties": {
                "path": {"type": "string"},
                "content": {"type": "string"}
            }, "required": ["path", "content"]}
        },
        {
            "name": "list_dir",
            "description": "List a directory inside the configured roots.",
            "inputSchema": {"type": "object", "properties": {
                "path": {"type": "string"}
            }, "required": ["path"]}
        }
    ])
}

/// A tool's answer: text content, an error flag.
fn tool_result(id: Value, text: String, is_error: bool, structured: Option<Value>) -> Value {
    let mut r = json!({"content": [{"type": "text", "text": text}], "isError": is_error});
    if let Some(s) = structured {
        r["structuredContent"] = s;
    }
    result(id, r)
}

fn call_tool(
    opts: &Options,
    roots: &[PathBuf],
    id: Value,
    params: &Value,
    out: &mut dyn Write,
) -> Value {
    let Some(name) = params["name"].as_str() else {
        return error(id, INVALID_PARAMS, "tools/call needs `name`");
    };
    let args = params.get("arguments").cloned().unwrap_or(json!({}));
    if !args.is_object() {
        return error(id, INVALID_PARAMS, "`arguments` must be an object");
    }
    let progress = params.pointer("/_meta/progressToken").cloned();
    let str_arg = |k: &str| args[k].as_str().map(str::to_string);
    let outcome = match name {
        "run_command" => match str_arg("command").filter(|c| !c.trim().is_empty()) {
            None => {
                return error(
                    id,
                    INVALID_PARAMS,
                    "run_command needs `command` (a non-empty string)",
                )
            }
            Some(cmd) => {
                let cwd = str_arg("cwd");
                let timeout = args["timeoutMs"].as_u64();
                if opts.local {
                    run_local(opts, &cmd, cwd.as_deref(), timeout)
                } else {
                    run_gateway(opts, &cmd, cwd.as_deref(), timeout, progress, out)
                }
            }
        },
        "read_file" | "write_file" | "list_dir" => {
            let Some(path) = str_arg("path") else {
                return error(
                    id,
                    INVALID_PARAMS,
                    &format!("{name} needs `path` (a string)"),
                );
            };
            let content = str_arg("content");
            if name == "write_file" && content.is_none() {
                return error(id, INVALID_PARAMS, "write_file needs `content` (a string)");
            }
            file_tool(
                opts,
                roots,
                name,
                &path,
                content.as_deref(),
                args["maxBytes"].as_u64(),
            )
        }
        other => return error(id, INVALID_PARAMS, &format!("unknown tool: {other}")),
    };
    match outcome {
        Ok((text, structured)) => tool_result(id, text, false, structured),
        Err(text) => tool_result(id, text, true, None),
    }
}

type ToolOutcome = Result<(String, Option<Value>), String>;

fn refused(e: &ClientError) -> String {
    match e {
        ClientError::Remote { message, .. } => {
            let code = e.detail_code().unwrap_or("");
            format!(
                "clawgate refused this: {message}{}",
                if code.is_empty() {
                    String::new()
                } else {
                    format!(" ({code})")
                }
            )
        }
        other => format!("clawgate: {other}; refused to be safe"),
    }
}

/// Asks the gateway to judge `input`, holding an approve for a person.
/// `Ok(reason)` when allowed, `Err(why)` otherwise (fails closed).
fn gateway_allows(opts: &Options, tool: &str, input: Value) -> Result<String, String> {
    let mut c = Client::connect(&opts.target, CLIENT_ID, AGENT_SCOPES).map_err(|e| refused(&e))?;
    let r = c.call(
        "agent.check",
        json!({"input": input, "tool": tool, "hold": true}),
        opts.wait,
    );
    c.close();
    let answer = r.map_err(|e| refused(&e))?;
    let (p, reason) = super::hook::decide(&answer);
    match p {
        super::hook::Permission::Allow => Ok(reason),
        // A hold that was not granted (or holds off) is not a yes.
        _ => Err(reason),
    }
}

fn report(opts: &Options, tool: &str, input: Value, outcome: &str, detail: Value) {
    if let Ok(mut c) = Client::connect(&opts.target, CLIENT_ID, AGENT_SCOPES) {
        let p = json!({"tool": tool, "input": input, "outcome": outcome, "detail": detail});
        if let Err(e) = c.call("agent.report", p, Duration::from_secs(10)) {
            eprintln!("clawgate mcp: the audit report failed: {e}");
        }
        c.close();
    }
}

fn run_gateway(
    opts: &Options,
    cmd: &str,
    cwd: Option<&str>,
    timeout_ms: Option<u64>,
    progress: Option<Value>,
    out: &mut dyn Write,
) -> ToolOutcome {
    let mut c = Client::connect(&opts.target, CLIENT_ID, AGENT_SCOPES).map_err(|e| refused(&e))?;
    let mut p = json!({"command": cmd, "yieldMs": 120_000});
    if let Some(d) = cwd {
        p["cwd"] = json!(d);
    }
    if let Some(t) = timeout_ms {
        p["timeoutMs"] = json!(t);
    }
    let mut n = 0u64;
    let mut streamed = |name: &str, payload: &Value| {
        if name != "process.output" {
            return;
        }
        if let (Some(tok), Some(data)) = (&progress, payload["data"].as_str()) {
            n += 1;
            let note = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                "params": {"progressToken": tok, "progress": n, "message": data}});
            send(out, &note);
        }
    };
    // The approval (if the coach asks) and the run both happen inside
    // this call: the deadline covers a person's answer and the yield.
    let deadline = Instant::now() + opts.wait + Duration::from_secs(130);
    let mut r = c
        .call_until("exec.run", p, deadline, &mut streamed)
        .map_err(|e| refused(&e))?;
    while r["status"] == "running" {
        let pid = r["processId"].clone();
        match c.next_event(deadline).map_err(|e| refused(&e))? {
            Some((name, payload)) if name == "process.exit" && payload["processId"] == pid => {
                r = c
                    .call(
                        "process.poll",
                        json!({"processId": pid}),
                        Duration::from_secs(10),
                    )
                    .map_err(|e| refused(&e))?;
            }
            Some((name, payload)) => streamed(&name, &payload),
            None => {
                return Err(format!(
                    "the command was still running at the deadline (process {pid})"
                ))
            }
        }
    }
    c.close();
    let code = r["exitCode"].as_i64();
    let text = format!(
        "{}\n[exit code: {}{}]",
        r["output"].as_str().unwrap_or(""),
        code.map(|c| c.to_string()).unwrap_or_else(|| "none".into()),
        r["signal"]
            .as_str()
            .map(|s| format!(", signal {s}"))
            .unwrap_or_default()
    );
    let structured = json!({"exitCode": code, "status": r["status"], "processId": r["processId"], "approvedBy": r["approvedBy"]});
    Ok((text, Some(structured)))
}

fn run_local(opts: &Options, cmd: &str, cwd: Option<&str>, timeout_ms: Option<u64>) -> ToolOutcome {
    let mut input = json!({"command": cmd, "toolName": "bash"});
    if let Some(d) = cwd {
        input["params"] = json!({"cwd": d});
    }
    gateway_allows(opts, "run_command", input.clone())?;
    let mut child = std::process::Command::new("/bin/sh");
    child.arg("-c").arg(cmd).stdin(std::process::Stdio::null());
    if let Some(d) = cwd {
        child.current_dir(d);
    }
    let started = Instant::now();
    let timeout = Duration::from_millis(timeout_ms.unwrap_or(60_000));
    let run = run_bounded(child, timeout);
    let (outcome, text, code) = match &run {
        Ok((code, text)) => (
            if *code == Some(0) { "ok" } else { "failed" },
            text.clone(),
            *code,
        ),
        Err(e) => ("failed", e.clone(), None),
    };
    report(
        opts,
        "run_command",
        input,
        outcome,
        json!({"source": "mcp", "local": true, "exitCode": code, "durationMs": started.elapsed().as_millis() as u64}),
    );
    let text = format!(
        "{text}\n[exit code: {}]",
        code.map(|c| c.to_string()).unwrap_or_else(|| "none".into())
    );
    if run.is_err() {
        return Err(text);
    }
    Ok((text, Some(json!({"exitCode": code}))))
}

/// Runs a child with its output captured (the tail, bounded) and killed
/// at the deadline.
fn run_bounded(
    mut cmd: std::process::Command,
    timeout: Duration,
) -> Result<(Option<i32>, String), String> {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    let mut pipes: Vec<Box<dyn Read + Send>> = Vec::new();
    if let Some(o) = child.stdout.take() {
        pipes.push(Box::new(o));
    }
    if let Some(e) = child.stderr.take() {
        pipes.push(Box::new(e));
    }
    let readers: Vec<_> = pipes
        .into_iter()
        .map(|mut p| {
            std::thread::spawn(move || {
                let mut tail = Vec::new();
                let mut buf = [0u8; 8192];
                while let Ok(n) = p.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    tail.extend_from_slice(&buf[..n]);
                    if tail.len() > MAX_OUTPUT_BYTES {
                        tail.drain(..tail.len() - MAX_OUTPUT_BYTES);
                    }
                }
                tail
            })
        })
        .collect();
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let mut text = String::new();
    for r in readers {
        text.push_str(&String::from_utf8_lossy(&r.join().unwrap_or_default()));
    }
    match status {
        Some(s) => Ok((s.code(), text)),
        None => Err(format!("{text}\nkilled after {} ms", timeout.as_millis())),
    }
}

/// The path resolved (symlinks followed; for a file not yet written, its
/// parent) and inside one of `roots`, or why not.
pub fn confine(roots: &[PathBuf], path: &str, must_exist: bool) -> Result<PathBuf, String> {
    let p = Path::new(path);
    if !p.is_absolute() && roots.is_empty() {
        return Err("no roots configured".into());
    }
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        roots[0].join(p)
    };
    let resolved = match std::fs::canonicalize(&joined) {
        Ok(r) => r,
        Err(_) if !must_exist => {
            let name = joined.file_name().ok_or("the path names no file")?;
            if matches!(
                Path::new(name).components().next(),
                Some(Component::ParentDir)
            ) {
                return Err("the path names no file".into());
            }
            let parent = joined.parent().ok_or("the path has no parent directory")?;
            std::fs::canonicalize(parent)
                .map_err(|e| format!("{}: {e}", parent.display()))?
                .join(name)
        }
        Err(e) => return Err(format!("{path}: {e}")),
    };
    if roots.iter().any(|r| resolved.starts_with(r)) {
        Ok(resolved)
    } else {
        Err(format!(
            "{} is outside the allowed roots ({})",
            resolved.display(),
            roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn file_tool(
    opts: &Options,
    roots: &[PathBuf],
    name: &str,
    path: &str,
    content: Option<&str>,
    max_bytes: Option<u64>,
) -> ToolOutcome {
    let resolved =
        confine(roots, path, name != "write_file").map_err(|e| format!("refused: {e}"))?;
    let shown = resolved.display().to_string();
    let input = match name {
        "read_file" => json!({"toolName": "read", "filePath": shown}),
        "list_dir" => json!({"toolName": "list_dir", "filePath": shown}),
        _ => {
            let c = content.unwrap_or("");
            if c.len() > MAX_WRITE_BYTES {
                return Err(format!("content is over {MAX_WRITE_BYTES} bytes"));
            }
            json!({"toolName": "write", "filePath": shown, "content": c})
        }
    };
    gateway_allows(opts, name, input)?;
    match name {
        "read_file" => {
            use std::io::Read;
            let limit = max_bytes.unwrap_or(MAX_READ_BYTES).min(MAX_READ_BYTES);
            let f = std::fs::File::open(&resolved).map_err(|e| format!("{shown}: {e}"))?;
            let mut buf = Vec::new();
            f.take(limit)
                .read_to_end(&mut buf)
                .map_err(|e| format!("{shown}: {e}"))?;
            Ok((String::from_utf8_lossy(&buf).into_owned(), None))
        }
        "list_dir" => {
            let mut names = Vec::new();
            for e in std::fs::read_dir(&resolved)
                .map_err(|e| format!("{shown}: {e}"))?
                .flatten()
            {
                if names.len() >= MAX_DIR_ENTRIES {
                    break;
                }
                let dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
                names.push(format!(
                    "{}{}",
                    e.file_name().to_string_lossy(),
                    if dir { "/" } else { "" }
                ));
            }
            names.sort_unstable();
            Ok((names.join("\n"), Some(json!({"entries": names}))))
        }
        _ => {
            let c = content.unwrap_or("");
            std::fs::write(&resolved, c).map_err(|e| format!("{shown}: {e}"))?;
            report(
                opts,
                "write_file",
                json!({"filePath": shown}),
                "ok",
                json!({"source": "mcp", "bytes": c.len()}),
            );
            Ok((format!("wrote {} bytes to {shown}", c.len()), None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_confine() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        std::fs::write(root.join("a"), "x").unwrap();
        let roots = vec![root.clone()];
        assert!(confine(&roots, root.join("a").to_str().unwrap(), true).is_ok());
        assert!(confine(&roots, "a", true).is_ok());
        assert!(confine(&roots, "new.txt", false).is_ok());
        assert!(confine(&roots, "/etc/passwd", true).is_err());
        assert!(confine(&roots, "../../etc/passwd", true).is_err());
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        assert!(confine(&roots, "out/passwd", true).is_err());
        assert!(confine(&roots, "out/new", false).is_err());
    }

    #[test]
    fn test_protocol_errors() {
        let opts = Options {
            target: Target {
                url: "ws://127.0.0.1:1".into(),
                token: "t".into(),
            },
            roots: vec![],
            local: false,
            wait: Duration::from_millis(10),
        };
        let mut out = Vec::new();
        let input = b"{bad\n[1]\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"run_command\",\"arguments\":{\"command\":\"ls\"}}}\n";
        serve(&opts, &mut &input[..], &mut out);
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0]["error"]["code"], PARSE_ERROR);
        assert_eq!(lines[1]["error"]["code"], INVALID_REQUEST);
        assert_eq!(lines[2]["error"]["code"], METHOD_NOT_FOUND);
        // No gateway: the call is refused, never run.
        assert_eq!(lines[3]["result"]["isError"], true);
        assert!(lines[3]["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("unreachable"));
    }
}
