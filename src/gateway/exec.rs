//! `exec.run` and the process registry: a request goes through the coach,
//! then (when the coach asks) through a human approval, then becomes a
//! child whose pipes sit in the same poll as the sockets. Output is kept
//! per process up to a cap and streamed to the client that started it as
//! droppable `process.output` events with offsets, so a slow client skips
//! events and catches up with `process.poll`. SIGCHLD arrives through the
//! signal pipe and children are reaped by pid; timers bound every stage:
//! the run's timeout, the SIGTERM→SIGKILL grace, the wait for pipes after
//! the exit, the `yieldMs` answer and the finished process's TTL.

use super::after::{After, Held};
use super::methods::{
    bad_param as bad, opt_bool, opt_text, opt_u64_max, params_object, unavailable, Payload,
};
use super::{wall_ms, Gateway, Priority, Timer};
use crate::coach::{CheckInput, Decision, Verdict};
use crate::config::OnDisconnect;
use crate::exec::allow::{simple_words, Allowlist};
use crate::exec::output::{base64, utf8_cut, OutputBuf};
use crate::exec::spawn::{self, ExitInfo, SpawnSpec};
use crate::exec::{display_argv, proc_token, signal_name, Stream};
use crate::net::ConnId;
use crate::protocol::{ErrorCode, ErrorShape, Request, SharedEvent};
use crate::reactor::timer::TimerId;
use crate::store::AuditRow;
use mio::unix::SourceFd;
use mio::Interest;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::process::{ChildStderr, ChildStdin, ChildStdout};
use std::time::{Duration, Instant};

/// Largest `maxBytes` a `process.poll` may ask for (and its default).
pub const POLL_MAX_BYTES: usize = 1024 * 1024;
/// Retry hint when the process table is full (or the gateway stopping).
const RETRY_PROCESS_LIMIT_MS: u64 = 1_000;
/// Retry hint when a child has not read its pending stdin yet.
const RETRY_STDIN_FULL_MS: u64 = 100;

/// A validated `exec.run` request, carried through the coach and the approval.
#[derive(Debug, Clone)]
pub struct ExecReq {
    pub argv: Vec<String>,
    /// The command as a human (and the coach, and the audit) reads it.
    pub display: String,
    /// Words an allowlist entry can be matched against (None: shell syntax).
    pub words: Option<Vec<String>>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub timeout_ms: u64,
    pub yield_ms: u64,
    pub session_key: Option<String>,
    pub agent_id: Option<String>,
    pub stdin_pipe: bool,
    /// The program that will read an open stdin when it is an interpreter
    /// or a shell: every later `process.write` is code nobody checks, so
    /// such a run always needs a person's approval, named as interactive.
    pub interactive: Option<String>,
    pub base64: bool,
    /// Who decided it may run (`coach`, `allowlist`, `allow-always`, a client).
    pub approved_by: String,
}

/// An env value as shown to approvers and in audit rows: values that look
/// like secrets (by name or by shape) keep only their ends, so a person
/// sees which value it is without the secret landing in logs; everything
/// else is shown whole. Never dropped.
pub fn mask_secret(name: &str, value: &str) -> String {
    let n = name.to_ascii_uppercase();
    let named = [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "KEY",
        "CREDENTIAL",
        "AUTH",
        "SESSION",
        "COOKIE",
        "PRIVATE",
    ]
    .iter()
    .any(|w| n.contains(w));
    let shaped = [
        "ghp_",
        "gho_",
        "github_pat_",
        "glpat-",
        "xox",
        "sk_live_",
        "sk-",
        "AKIA",
        "hvs.",
        "ya29.",
        "eyJ",
        "npm_",
        "-----BEGIN",
    ]
    .iter()
    .any(|p| value.starts_with(p))
        || value.contains("://")
            && value
                .split_once("://")
                .is_some_and(|(_, r)| r.split_once('@').is_some_and(|(c, _)| c.contains(':')));
    if !(named || shaped) || value.len() < 6 {
        return value.to_string();
    }
    let chars: Vec<char> = value.chars().collect();
    let keep = (chars.len() / 8).clamp(1, 4);
    let head: String = chars[..keep].iter().collect();
    let tail: String = chars[chars.len() - keep..].iter().collect();
    format!("{head}…{tail} ({} chars, masked)", chars.len())
}

/// What the coach judges for an `exec.run`: the command as the child's
/// shell will see it (each `$NAME`/`${NAME}` the request's env defines
/// replaced by its value), run in its cwd, then every env value on its own
/// line, checked as a command too; and whether stdin is left open.
pub fn effective_call(r: &ExecReq) -> String {
    let mut cmd = r.display.clone();
    for (k, v) in &r.env {
        cmd = cmd.replace(&format!("${{{k}}}"), v);
        cmd = replace_var(&cmd, k, v);
    }
    let mut out = String::with_capacity(cmd.len() + 64);
    if let Some(cwd) = &r.cwd {
        out.push_str(&format!("cd '{}' && ", cwd.display()));
    }
    out.push_str(&cmd);
    for (_, v) in &r.env {
        out.push('\n');
        out.push_str(v);
    }
    out
}

/// Programs that run what they read on stdin as code.
const INTERPRETERS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "ash",
    "fish",
    "mksh",
    "tcsh",
    "csh",
    "busybox",
    "python",
    "python2",
    "python3",
    "ipython",
    "node",
    "nodejs",
    "deno",
    "bun",
    "perl",
    "ruby",
    "irb",
    "php",
    "lua",
    "luajit",
    "tclsh",
    "wish",
    "expect",
    "psql",
    "sqlite3",
    "mysql",
    "mariadb",
    "mongo",
    "mongosh",
    "redis-cli",
    "R",
    "Rscript",
    "julia",
    "osascript",
    "gdb",
    "lldb",
    "ssh",
    "nc",
    "ncat",
    "socat",
    "telnet",
    "awk",
    "gawk",
    "bc",
    "dc",
    "ed",
    "ex",
    "vim",
    "vi",
    "nvim",
    "emacs",
    "sudo",
    "su",
    "doas",
    "xargs",
    "env",
    "script",
    "ftp",
    "sftp",
    "openssl",
    "jshell",
    "ghci",
    "erl",
    "iex",
    "scala",
    "clojure",
    "groovysh",
    "powershell",
    "pwsh",
    "docker",
    "kubectl",
];

/// The interpreter among a command's words, if stdin would reach one: any
/// word whose base name is an interpreter (versioned pythons included). A
/// word in a pipeline or a substitution counts too: it fails closed.
pub fn interactive_program(display: &str) -> Option<String> {
    display
        .split(|c: char| c.is_whitespace() || ";|&()`'\"".contains(c))
        .filter(|w| !w.is_empty() && !w.starts_with('-'))
        .map(|w| w.rsplit('/').next().unwrap_or(w))
        .find(|b| {
            INTERPRETERS.contains(b)
                || b.starts_with("python") && b[6..].chars().all(|c| c.is_ascii_digit() || c == '.')
                || b.starts_with("php") && b[3..].chars().all(|c| c.is_ascii_digit() || c == '.')
        })
        .map(str::to_string)
}

/// `$NAME` replaced where it is the whole name (not `$NAMED`).
fn replace_var(text: &str, name: &str, value: &str) -> String {
    let pat = format!("${name}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(&pat) {
        let after = &rest[i + pat.len()..];
        out.push_str(&rest[..i]);
        if after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            out.push_str(&pat);
        } else {
            out.push_str(value);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

impl ExecReq {
    /// What the approval event shows.
    pub fn request_view(&self) -> Value {
        json!({
            "command": self.display,
            "argv": self.argv_view(),
            "cwd": self.cwd.as_ref().map(|p| p.display().to_string()),
            "agentId": self.agent_id,
            "sessionKey": self.session_key,
            "timeoutMs": self.timeout_ms,
            "env": self
                .env
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(mask_secret(k, v))))
                .collect::<Map<String, Value>>(),
            "stdin": self.stdin_pipe,
        })
    }
    fn argv_view(&self) -> Option<&[String]> {
        self.words.as_deref()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcStatus {
    Running,
    Exited,
    Killed,
    Timeout,
}

struct Pipes {
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    stdin: Option<ChildStdin>,
    stdin_buf: Vec<u8>,
    stdin_eof: bool,
    /// An unfinished UTF-8 sequence per stream, waiting for its last bytes.
    carry: [Vec<u8>; 2],
}

impl Pipes {
    /// The open descriptors and which stream each is.
    fn fds(&self) -> Vec<(i32, Stream)> {
        let mut v = Vec::with_capacity(3);
        if let Some(f) = &self.stdout {
            v.push((f.as_raw_fd(), Stream::Stdout));
        }
        if let Some(f) = &self.stderr {
            v.push((f.as_raw_fd(), Stream::Stderr));
        }
        if let Some(f) = &self.stdin {
            v.push((f.as_raw_fd(), Stream::Stdin));
        }
        v
    }
}

struct Waiter {
    conn: ConnId,
    req_id: String,
    timer: Option<TimerId>,
}

pub struct Proc {
    pub id: String,
    pid: i32,
    owner: Option<ConnId>,
    /// Who started it, for the right to write to, kill or remove it: the
    /// verified device when the client presented one, else the connection.
    identity: String,
    client_id: Option<String>,
    session_key: Option<String>,
    command: String,
    cwd: Option<String>,
    started: Instant,
    started_ms: u64,
    ended: Option<Instant>,
    status: ProcStatus,
    exit: Option<ExitInfo>,
    pipes: Pipes,
    out: OutputBuf,
    base64: bool,
    /// Why we signalled it (`timeout`, `kill`, `shutdown`, `disconnect`).
    kill_reason: Option<&'static str>,
    timeout_timer: Option<TimerId>,
    kill_timer: Option<TimerId>,
    drain_timer: Option<TimerId>,
    prune_timer: Option<TimerId>,
    waiter: Option<Waiter>,
    approved_by: String,
    /// Reading is paused until the owner's outbound buffer drains.
    paused: bool,
}

impl ProcStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcStatus::Running => "running",
            ProcStatus::Exited => "exited",
            ProcStatus::Killed => "killed",
            ProcStatus::Timeout => "timeout",
        }
    }
}

impl Proc {
    fn duration_ms(&self, now: Instant) -> u64 {
        self.ended
            .unwrap_or(now)
            .saturating_duration_since(self.started)
            .as_millis() as u64
    }

    fn summary(&self, now: Instant) -> Value {
        json!({
            "processId": self.id,
            "pid": self.pid,
            "command": self.command,
            "cwd": self.cwd,
            "status": self.status,
            "exitCode": self.exit.and_then(|e| e.code),
            "signal": self.exit.and_then(|e| e.signal).map(signal_name),
            "startedAtMs": self.started_ms,
            "durationMs": self.duration_ms(now),
            "outputBytes": self.out.end(),
            "truncated": self.out.truncated,
            "sessionKey": self.session_key,
            "clientId": self.client_id,
            "stdin": self.pipes.stdin.is_some(),
        })
    }

    /// The answer to `exec.run`: status, and the output kept so far.
    fn result(&self, now: Instant) -> Value {
        let mut v = json!({
            "processId": self.id,
            "pid": self.pid,
            "status": self.status,
            "durationMs": self.duration_ms(now),
            "output": self.out.text(),
            "truncated": self.out.truncated,
            "nextOffset": self.out.end(),
        });
        if self.status != ProcStatus::Running {
            v["exitCode"] = json!(self.exit.and_then(|e| e.code));
            v["signal"] = json!(self.exit.and_then(|e| e.signal).map(signal_name));
            if let Some(r) = self.kill_reason {
                v["reason"] = json!(r);
            }
        }
        v
    }

    fn pipes_open(&self) -> bool {
        self.pipes.stdout.is_some() || self.pipes.stderr.is_some()
    }
}

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecStats {
    pub runs: u64,
    /// Processes a finished run left behind (other session, double fork),
    /// killed by the sweep.
    pub leftovers_killed: u64,
    /// Orphans re-parented to the gateway (its subreaper role) and reaped.
    pub orphans_reaped: u64,
    pub spawned: u64,
    pub spawn_failed: u64,
    pub blocked: u64,
    pub rejected_busy: u64,
    pub exited: u64,
    pub killed: u64,
    pub timed_out: u64,
    pub output_bytes: u64,
    pub output_events: u64,
    /// Times a child's pipes were paused because its client was behind.
    pub flow_pauses: u64,
    /// Orphaned children (client gone) no longer read: output buffer full.
    pub orphan_pauses: u64,
    /// Groups killed for having more than exec.maxGroupProcesses alive.
    pub process_limit_kills: u64,
    pub stdin_bytes: u64,
    pub pruned: u64,
    pub reaped: u64,
}

/// How long the end of a run waits for its killed cgroup to empty before
/// removing it (on a worker; shutdown waits the same per run).
const CGROUP_REMOVE_WAIT_MS: u64 = 500;

pub struct ExecRuntime {
    procs: BTreeMap<u64, Proc>,
    /// Per-run cgroups, when the gateway has a delegated v2 subtree.
    cgroups: Option<crate::exec::cgroup::Tree>,
    watch_timer: Option<TimerId>,
    scan_running: bool,
    /// Processes paused by flow control (their owners are behind).
    paused: usize,
    next_seq: u64,
    running: usize,
    revisit: Vec<(u64, Stream)>,
    scratch: Vec<u8>,
    pub allowlist: Allowlist,
    pub stats: ExecStats,
}

impl ExecRuntime {
    pub fn new(cfg: &crate::config::ExecConfig) -> ExecRuntime {
        ExecRuntime {
            procs: BTreeMap::new(),
            watch_timer: None,
            scan_running: false,
            paused: 0,
            next_seq: 1,
            running: 0,
            revisit: Vec::new(),
            scratch: Vec::new(),
            // Validated with the config; an error here cannot happen.
            allowlist: Allowlist::new(&cfg.allowlist).unwrap_or_default(),
            stats: ExecStats::default(),
            cgroups: match crate::exec::cgroup::Tree::setup(
                &cfg.cgroup,
                cfg.cgroup_pids_max,
                cfg.cgroup_memory_max_bytes,
            ) {
                Ok(Some(t)) => {
                    log::info!(
                        "exec: each run gets its own cgroup under {}",
                        t.runs.display()
                    );
                    Some(t)
                }
                Ok(None) => None,
                Err(e) => {
                    log::warn!("exec: cgroup containment off ({e}); runs are contained by the subreaper and sweep");
                    None
                }
            },
        }
    }
    pub fn running(&self) -> usize {
        self.running
    }
    pub fn finished(&self) -> usize {
        self.procs.len() - self.running
    }
    pub fn has_revisits(&self) -> bool {
        !self.revisit.is_empty()
    }
    fn running_seqs(&self) -> Vec<u64> {
        self.procs
            .iter()
            .filter(|(_, p)| p.status == ProcStatus::Running)
            .map(|(s, _)| *s)
            .collect()
    }
    /// Output bytes held right now, for the live memory accounting.
    pub fn held_bytes(&self) -> usize {
        self.procs
            .values()
            .map(|p| p.out.held() + p.pipes.stdin_buf.len())
            .sum()
    }
}

fn parse_id(s: &str) -> Option<u64> {
    s.strip_prefix("p-")?.split('-').next()?.parse().ok()
}

fn not_found(id: &str) -> ErrorShape {
    ErrorShape::invalid(format!(
        "unknown processId `{id}` (finished processes are kept for exec.finishedTtlMs)"
    ))
    .detail("PROCESS_NOT_FOUND", json!({"processId": id}))
}

impl Gateway {
    // ----- exec.run --------------------------------------------------------------

    pub(super) fn exec_run(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "exec.run";
        let p = params_object(
            req,
            &[
                "command",
                "argv",
                "cwd",
                "env",
                "timeoutMs",
                "sessionKey",
                "yieldMs",
                "stdin",
                "encoding",
                "agentId",
            ],
        )?;
        let e = self.cfg.exec.clone();
        if !e.enabled {
            return Err(ErrorShape::new(
                ErrorCode::Forbidden,
                "exec is disabled (exec.enabled is false)",
            )
            .detail("EXEC_DISABLED", Value::Null));
        }
        self.exec.stats.runs += 1;
        let command = opt_text(p, M, "command", e.max_command_bytes)?;
        let argv = match p.and_then(|p| p.get("argv")) {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => {
                let mut out = Vec::with_capacity(a.len());
                let mut total = 0;
                for v in a {
                    let Some(s) = v.as_str() else {
                        return Err(bad(M, "argv", "a list of strings"));
                    };
                    if s.contains('\0') {
                        return Err(bad(M, "argv", "a list of strings without NUL bytes"));
                    }
                    total += s.len() + 1;
                    out.push(s.to_string());
                }
                if total > e.max_command_bytes {
                    return Err(bad(
                        M,
                        "argv",
                        &format!(
                            "at most {} bytes in all (exec.maxCommandBytes)",
                            e.max_command_bytes
                        ),
                    ));
                }
                Some(out)
            }
            Some(_) => Err(bad(M, "argv", "a list of strings"))?,
        };
        let (argv, display, words) = match (command, argv) {
            (Some(_), Some(_)) => {
                return Err(ErrorShape::invalid("invalid exec.run params: give `command` or `argv`, not both")
                    .detail("INVALID_PARAMS", json!({"property": "argv"})))
            }
            (None, None) => {
                return Err(ErrorShape::invalid("invalid exec.run params: `command` (a shell command string) or `argv` (a list) is required")
                    .detail("INVALID_PARAMS", json!({"property": "command"})))
            }
            (Some(c), None) => {
                if c.trim().is_empty() {
                    return Err(ErrorShape::invalid("invalid exec.run params: `command` is empty")
                        .detail("EMPTY_COMMAND", json!({"property": "command"})));
                }
                if c.contains('\0') {
                    return Err(bad(M, "command", "a string without NUL bytes"));
                }
                (vec![e.shell.clone(), "-c".into(), c.to_string()], c.to_string(), simple_words(c))
            }
            (None, Some(a)) => {
                if a.first().is_none_or(|s| s.is_empty()) {
                    return Err(ErrorShape::invalid("invalid exec.run params: `argv` is empty (argv[0] names the program)")
                        .detail("EMPTY_COMMAND", json!({"property": "argv"})));
                }
                let d = display_argv(&a);
                (a.clone(), d, Some(a))
            }
        };
        let cwd = opt_text(p, M, "cwd", 4096)?.map(PathBuf::from);
        if let Some(c) = &cwd {
            spawn::check_cwd(c).map_err(|err| {
                ErrorShape::invalid(format!("invalid exec.run params: {err}"))
                    .detail(err.code(), json!({"property": "cwd"}))
            })?;
        }
        let env = match p.and_then(|p| p.get("env")) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => {
                if m.len() > e.max_env_vars {
                    return Err(bad(
                        M,
                        "env",
                        &format!(
                            "an object of at most {} variables (exec.maxEnvVars)",
                            e.max_env_vars
                        ),
                    ));
                }
                let mut out = Vec::new();
                for (k, v) in m {
                    if let Some(why) = spawn::env_key_problem(k) {
                        return Err(ErrorShape::invalid(format!(
                            "invalid exec.run params: env `{k}` {why}"
                        ))
                        .detail("ENV_FORBIDDEN", json!({"property": "env", "name": k})));
                    }
                    let Some(v) = v
                        .as_str()
                        .filter(|v| !v.contains('\0') && v.len() <= 32 * 1024)
                    else {
                        return Err(bad(
                            M,
                            "env",
                            "an object of string values (each at most 32768 bytes)",
                        ));
                    };
                    out.push((k.clone(), v.to_string()));
                }
                out
            }
            Some(_) => return Err(bad(M, "env", "an object of string values")),
        };
        let timeout_ms = match opt_u64_max(p, M, "timeoutMs", e.max_timeout_ms)? {
            Some(0) => {
                return Err(bad(
                    M,
                    "timeoutMs",
                    &format!("an integer 1..={}", e.max_timeout_ms),
                ))
            }
            Some(t) => t,
            None => e.default_timeout_ms,
        };
        let yield_ms = opt_u64_max(p, M, "yieldMs", e.max_yield_ms)?.unwrap_or(e.default_yield_ms);
        let session_key = opt_text(p, M, "sessionKey", 256)?.map(str::to_string);
        let agent_id = opt_text(p, M, "agentId", 256)?.map(str::to_string);
        let stdin_pipe = opt_bool(p, M, "stdin")?.unwrap_or(false);
        let base64 = match opt_text(p, M, "encoding", 16)? {
            None | Some("utf8") => false,
            Some("base64") => true,
            Some(_) => return Err(bad(M, "encoding", "\"utf8\" or \"base64\"")),
        };
        // Refuse early rather than after a human said yes.
        self.exec_capacity()?;
        let mut r = ExecReq {
            argv,
            display,
            words,
            cwd,
            env,
            timeout_ms,
            yield_ms,
            session_key: session_key.clone(),
            agent_id,
            stdin_pipe,
            interactive: None,
            base64,
            approved_by: String::new(),
        };
        if r.stdin_pipe {
            r.interactive = interactive_program(&r.display);
        }
        let input = CheckInput {
            command: Some(effective_call(&r)),
            tool_name: Some("exec".into()),
            ..Default::default()
        };
        self.submit_check(
            id,
            &req.id,
            input,
            session_key,
            After::Exec(Box::new(r)),
            now,
        )
    }

    /// Unit tests: `exec.run` without the coach (it is tested on its own)
    /// so the rig can drive a real child with injected time.
    #[cfg(test)]
    pub(super) fn start_process_for_test(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let p = params_object(req, &["argv", "yieldMs", "timeoutMs"])?.expect("params");
        let argv: Vec<String> = serde_json::from_value(p["argv"].clone()).expect("argv");
        let r = ExecReq {
            display: display_argv(&argv),
            words: Some(argv.clone()),
            argv,
            cwd: None,
            env: Vec::new(),
            timeout_ms: p.get("timeoutMs").and_then(Value::as_u64).unwrap_or(60_000),
            yield_ms: p.get("yieldMs").and_then(Value::as_u64).unwrap_or(0),
            session_key: None,
            agent_id: None,
            stdin_pipe: false,
            interactive: None,
            base64: false,
            approved_by: "test".into(),
        };
        self.start_process(id, &req.id, r, now)
    }

    fn exec_capacity(&mut self) -> Result<(), ErrorShape> {
        let max = self.cfg.exec.max_processes;
        if self.exec.running >= max {
            self.exec.stats.rejected_busy += 1;
            return Err(ErrorShape::new(
                ErrorCode::Unavailable,
                format!("{max} processes are running (exec.maxProcesses); retry when one ends"),
            )
            .detail(
                "PROCESS_LIMIT",
                json!({"running": self.exec.running, "max": max}),
            )
            .retry_after(RETRY_PROCESS_LIMIT_MS));
        }
        if self.memory.refusing() {
            self.stats.memory_refused += 1;
            return Err(self.memory_pressure_error());
        }
        if self.is_shutting_down() {
            return Err(unavailable(
                "SHUTTING_DOWN",
                "the gateway is shutting down",
                RETRY_PROCESS_LIMIT_MS,
            ));
        }
        Ok(())
    }

    /// The coach has spoken on an `exec.run`.
    pub(super) fn exec_after_coach(
        &mut self,
        conn: ConnId,
        req_id: &str,
        mut r: ExecReq,
        v: &Verdict,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        if let (Some(prog), Decision::Allow | Decision::Approve) =
            (r.interactive.clone(), v.decision)
        {
            // Interactive input to an interpreter: a person decides, always
            // (no allowlist, no allow-always), knowing it is a session.
            let mut matches = serde_json::to_value(&v.matches).unwrap_or(Value::Null);
            if let Value::Array(a) = &mut matches {
                a.insert(0, json!({
                    "patternId": "exec.interactive-stdin",
                    "category": "code-injection",
                    "severity": "high",
                    "title": format!("Interactive session: stdin stays open to {prog}"),
                    "coaching": "Whatever is written to this process later runs as code without a check; approving it approves the whole session.",
                    "recommendation": "Run the commands themselves with exec.run instead of feeding an interpreter.",
                }));
            }
            let coach = json!({"decision": "approve", "severity": "high", "matches": matches, "interactive": prog});
            return self.raise_exec_approval(Held::new(conn, req_id, r), coach, now);
        }
        match v.decision {
            Decision::Block => {
                self.exec.stats.blocked += 1;
                let top = v.top().map(|m| m.title).unwrap_or("a blocked pattern");
                Err(ErrorShape::new(ErrorCode::Forbidden, format!("blocked by the security coach: {top}"))
                    .detail(
                        "COACH_BLOCKED",
                        json!({"decision": "block", "severity": v.severity, "matches": v.matches, "ruleId": v.rule_id}),
                    ))
            }
            Decision::Allow => {
                r.approved_by = "coach".into();
                self.start_process(conn, req_id, r, now)
            }
            Decision::Approve => {
                let allowlisted = r
                    .words
                    .as_deref()
                    .is_some_and(|w| self.exec.allowlist.allows(w));
                if allowlisted {
                    r.approved_by = "allowlist".into();
                    return self.start_process(conn, req_id, r, now);
                }
                if self.approvals.allow_always_has(&r.display) {
                    r.approved_by = "allow-always".into();
                    return self.start_process(conn, req_id, r, now);
                }
                let coach =
                    json!({"decision": "approve", "severity": v.severity, "matches": v.matches});
                self.raise_exec_approval(Held::new(conn, req_id, r), coach, now)
            }
        }
    }

    /// Spawns an approved request and registers its pipes.
    pub(super) fn start_process(
        &mut self,
        conn: ConnId,
        req_id: &str,
        r: ExecReq,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        self.exec_capacity()?;
        let e = self.cfg.exec.clone();
        let token = self.secrets.token.clone().unwrap_or_default();
        let password = self.secrets.password.clone().unwrap_or_default();
        let mut env = spawn::child_env(
            &e.env_passthrough,
            &e.safe_path,
            std::env::vars(),
            &[&token, &password],
            &r.env,
        );
        env.push((
            spawn::RUN_MARKER.into(),
            spawn::run_marker(self.exec.next_seq),
        ));
        let cgroup_procs = match &self.exec.cgroups {
            None => None,
            Some(t) => match t.create_run(self.exec.next_seq) {
                Ok(p) => Some(p),
                Err(err) => {
                    // Fail closed: a run that cannot be contained does not start.
                    self.exec.stats.spawn_failed += 1;
                    return Err(ErrorShape::invalid(format!(
                        "exec.run: cannot create the run's cgroup: {err}"
                    ))
                    .detail("SPAWN_FAILED", json!({"command": r.display})));
                }
            },
        };
        let spec = SpawnSpec {
            argv: r.argv.clone(),
            cwd: r.cwd.clone(),
            env,
            stdin_pipe: r.stdin_pipe,
            max_user_processes: e.max_user_processes,
            cgroup_procs,
        };
        let client_id = self.session(conn).map(|s| s.params.client.id.clone());
        let spawned = match spawn::spawn(&spec) {
            Ok(s) => s,
            Err(err) => {
                self.exec.stats.spawn_failed += 1;
                self.push_audit(AuditRow {
                    conn: Some(conn.to_string()),
                    client_id,
                    session_key: r.session_key.clone(),
                    detail: Some(json!({"error": err.to_string(), "code": err.code()}).to_string()),
                    ..AuditRow::new(
                        wall_ms(),
                        "exec",
                        "failed",
                        self.audit_text(&r.display),
                        r.approved_by.clone(),
                    )
                });
                return Err(ErrorShape::invalid(format!("exec.run: {err}"))
                    .detail(err.code(), json!({"command": r.display})));
            }
        };
        let seq = self.exec.next_seq;
        self.exec.next_seq += 1;
        let pid = spawned.pid;
        let mut proc = Proc {
            // The random part keeps ids unique across restarts (the audit
            // trail outlives the registry).
            id: format!("p-{seq}-{}", super::auth::random_hex(3).unwrap_or_default()),
            pid,
            owner: Some(conn),
            identity: self.identity_of(conn),
            client_id,
            session_key: r.session_key.clone(),
            command: r.display.clone(),
            cwd: r.cwd.as_ref().map(|c| c.display().to_string()),
            started: now,
            started_ms: wall_ms(),
            ended: None,
            status: ProcStatus::Running,
            exit: None,
            pipes: Pipes {
                stdout: Some(spawned.stdout),
                stderr: Some(spawned.stderr),
                stdin: spawned.stdin,
                stdin_buf: Vec::new(),
                stdin_eof: false,
                carry: [Vec::new(), Vec::new()],
            },
            out: OutputBuf::new(e.max_output_bytes),
            base64: r.base64,
            kill_reason: None,
            timeout_timer: None,
            kill_timer: None,
            drain_timer: None,
            prune_timer: None,
            waiter: None,
            approved_by: r.approved_by.clone(),
            paused: false,
        };
        let mut ok = true;
        for (fd, stream) in proc.pipes.fds() {
            let interest = if stream == Stream::Stdin {
                Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            ok &= self
                .registry
                .register(&mut SourceFd(&fd), proc_token(seq, stream), interest)
                .is_ok();
        }
        if !ok {
            log::warn!("{}: could not register its pipes; killing it", proc.id);
            let _ = spawn::kill_group(pid, libc::SIGKILL);
        }
        proc.timeout_timer = self
            .timers
            .insert(
                now + Duration::from_millis(r.timeout_ms),
                Timer::ExecTimeout(seq),
            )
            .ok();
        self.exec.running += 1;
        self.exec.stats.spawned += 1;
        self.arm_watch(now);
        log::info!(
            // Debug-quoted: a command's newlines must not forge log lines.
            "{}: pid {pid} started for {conn}: {:?}",
            proc.id,
            r.display.chars().take(200).collect::<String>()
        );
        let answer_now = r.yield_ms == 0;
        if !answer_now {
            let timer = self
                .timers
                .insert(
                    now + Duration::from_millis(r.yield_ms),
                    Timer::ExecYield(seq),
                )
                .ok();
            proc.waiter = Some(Waiter {
                conn,
                req_id: req_id.to_string(),
                timer,
            });
        }
        let result = proc.result(now);
        self.exec.procs.insert(seq, proc);
        // Output already written is reported by the poll (registering a
        // readable fd reports it once), after this answer: clients learn
        // the processId before its first process.output.
        if answer_now {
            Ok(Payload::Json(result))
        } else {
            Ok(Payload::Deferred)
        }
    }

    fn audit_text(&self, s: &str) -> String {
        s.chars().take(self.cfg.coach.audit_input_chars).collect()
    }

    // ----- pipes -----------------------------------------------------------------

    /// Readiness on a child's pipe.
    pub fn on_proc_ready(
        &mut self,
        seq: u64,
        stream: Stream,
        readable: bool,
        writable: bool,
        now: Instant,
    ) {
        match stream {
            Stream::Stdin if writable || readable => self.write_stdin(seq),
            Stream::Stdout | Stream::Stderr if readable => self.read_pipe(seq, stream, now),
            _ => {}
        }
    }

    pub fn run_exec_revisits(&mut self, now: Instant) {
        for (seq, stream) in std::mem::take(&mut self.exec.revisit) {
            self.read_pipe(seq, stream, now);
        }
    }

    fn read_pipe(&mut self, seq: u64, stream: Stream, now: Instant) {
        self.read_pipe_with(seq, stream, false, now)
    }

    /// `force`: read even if the owner is behind (the exit is recorded now
    /// and what is in the pipe would otherwise be lost).
    fn read_pipe_with(&mut self, seq: u64, stream: Stream, force: bool, now: Instant) {
        let chunk = self.cfg.exec.read_chunk_bytes;
        let budget = self.cfg.exec.read_budget;
        let mut scratch = std::mem::take(&mut self.exec.scratch);
        scratch.resize(chunk, 0);
        let mut eof = false;
        let mut spent = true;
        for _ in 0..budget {
            if !force && self.owner_behind(seq) {
                spent = false;
                break;
            }
            let Some(p) = self.exec.procs.get_mut(&seq) else {
                spent = false;
                break;
            };
            let res = match stream {
                Stream::Stdout => p.pipes.stdout.as_mut().map(|f| f.read(&mut scratch)),
                Stream::Stderr => p.pipes.stderr.as_mut().map(|f| f.read(&mut scratch)),
                Stream::Stdin => None,
            };
            match res {
                None => {
                    spent = false;
                    break;
                }
                Some(Ok(0)) => {
                    eof = true;
                    spent = false;
                    break;
                }
                Some(Ok(n)) => self.on_output(seq, stream, &scratch[..n], force, now),
                Some(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    spent = false;
                    break;
                }
                Some(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Some(Err(e)) => {
                    log::debug!("p-{seq}: {} read failed: {e}", stream.as_str());
                    eof = true;
                    spent = false;
                    break;
                }
            }
        }
        self.exec.scratch = scratch;
        if spent {
            // Budget used up with data left: serve others, come back next turn.
            self.exec.revisit.push((seq, stream));
        }
        if eof {
            self.close_pipe(seq, stream, now);
        }
    }

    /// Flow control: true (and the process marked paused) when the client
    /// that started it has more than half its outbound cap queued.
    fn owner_behind(&mut self, seq: u64) -> bool {
        // Nobody reads an orphan's output as it comes: once its buffer is
        // full, more reading only rotates bytes (it burned 68 % of a core).
        // Stop; its pipe fills and blocks the child until it times out.
        let cap = self.cfg.exec.max_output_bytes;
        if let Some(p) = self.exec.procs.get_mut(&seq) {
            if p.owner.is_none() && p.out.held() >= cap {
                if !p.paused {
                    p.paused = true;
                    self.exec.paused += 1;
                    self.exec.stats.orphan_pauses += 1;
                }
                return true;
            }
        }
        if !self.cfg.exec.flow_control {
            return false;
        }
        let Some(p) = self.exec.procs.get(&seq) else {
            return false;
        };
        let Some(owner) = p.owner else {
            return false;
        };
        let limit = self.cfg.websocket.max_buffered_bytes / 2;
        let Some(conn) = self.conns.get(owner) else {
            return false;
        };
        if conn.pending_out_bytes() <= limit {
            return false;
        }
        if conn.batch_len() > 0 {
            // Held for the batch timer, not stuck in the socket: send them
            // now rather than stall the child until the timer fires.
            self.flush_batch(owner);
        }
        let behind = self
            .conns
            .get(owner)
            .is_some_and(|c| c.pending_out_bytes() > limit);
        if behind {
            let p = self.exec.procs.get_mut(&seq).expect("checked");
            if !p.paused {
                p.paused = true;
                self.exec.paused += 1;
                self.exec.stats.flow_pauses += 1;
            }
        }
        behind
    }

    /// A connection flushed: resume the processes it was holding back once
    /// its buffer is down to a quarter of the cap. Edge-triggered pipes will
    /// not report the data already waiting, so they are read on a revisit.
    pub(super) fn exec_resume_for(&mut self, id: ConnId, pending: usize) {
        if self.exec.paused == 0 || pending > self.cfg.websocket.max_buffered_bytes / 4 {
            return;
        }
        self.resume_where(|p| p.owner == Some(id));
    }

    fn resume_where(&mut self, pred: impl Fn(&Proc) -> bool) {
        for (seq, p) in self.exec.procs.iter_mut() {
            if p.paused && pred(p) {
                p.paused = false;
                self.exec.paused -= 1;
                self.exec.revisit.push((*seq, Stream::Stdout));
                self.exec.revisit.push((*seq, Stream::Stderr));
            }
        }
    }

    fn on_output(&mut self, seq: u64, stream: Stream, data: &[u8], forced: bool, now: Instant) {
        let Some(p) = self.exec.procs.get_mut(&seq) else {
            return;
        };
        let offset = p.out.push(stream, data);
        self.exec.stats.output_bytes += data.len() as u64;
        let Some(owner) = p.owner else {
            return;
        };
        let ev = output_event(p, stream, offset, data, false);
        if let Some(ev) = ev {
            self.exec.stats.output_events += 1;
            let prio = if self.cfg.exec.flow_control && !forced {
                Priority::Flow
            } else {
                Priority::Droppable
            };
            self.send_event(owner, &ev, prio, now);
            if offset == 0 {
                // The first output goes out at once (spawn-to-first-output
                // is what a user waits on); the stream after it is batched.
                self.flush_batch(owner);
            }
        }
    }

    fn close_pipe(&mut self, seq: u64, stream: Stream, now: Instant) {
        let Some(p) = self.exec.procs.get_mut(&seq) else {
            return;
        };
        let reg = &self.registry;
        match stream {
            Stream::Stdout => {
                if let Some(f) = p.pipes.stdout.take() {
                    let _ = reg.deregister(&mut SourceFd(&f.as_raw_fd()));
                }
            }
            Stream::Stderr => {
                if let Some(f) = p.pipes.stderr.take() {
                    let _ = reg.deregister(&mut SourceFd(&f.as_raw_fd()));
                }
            }
            Stream::Stdin => {
                if let Some(f) = p.pipes.stdin.take() {
                    let _ = reg.deregister(&mut SourceFd(&f.as_raw_fd()));
                }
                p.pipes.stdin_buf = Vec::new();
            }
        }
        // A character cut at the very end is flushed as it is.
        if matches!(stream, Stream::Stdout | Stream::Stderr)
            && !p.pipes.carry[stream as usize].is_empty()
        {
            let owner = p.owner;
            let offset = p.out.end() - p.pipes.carry[stream as usize].len() as u64;
            if let (Some(owner), Some(ev)) = (owner, output_event(p, stream, offset, &[], true)) {
                self.send_event(owner, &ev, Priority::Droppable, now);
            }
        }
        let Some(p) = self.exec.procs.get_mut(&seq) else {
            return;
        };
        if !p.pipes_open() && p.status == ProcStatus::Running {
            if p.exit.is_none() {
                // Pipes closed first: the exit is probably there already.
                if let Some(info) = spawn::try_reap(p.pid) {
                    p.exit = Some(info);
                    self.exec.stats.reaped += 1;
                }
            }
            if self.exec.procs.get(&seq).is_some_and(|p| p.exit.is_some()) {
                self.finish_process(seq, now);
            }
        }
        self.reap_adopted();
    }

    fn write_stdin(&mut self, seq: u64) {
        let Some(p) = self.exec.procs.get_mut(&seq) else {
            return;
        };
        let Some(stdin) = p.pipes.stdin.as_mut() else {
            return;
        };
        while !p.pipes.stdin_buf.is_empty() {
            match stdin.write(&p.pipes.stdin_buf) {
                Ok(0) => break,
                Ok(n) => {
                    p.pipes.stdin_buf.drain(..n);
                    self.exec.stats.stdin_bytes += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    // The child closed its stdin (EPIPE): nothing more will go in.
                    p.pipes.stdin_buf.clear();
                    p.pipes.stdin_eof = true;
                    break;
                }
            }
        }
        if p.pipes.stdin_eof && p.pipes.stdin_buf.is_empty() {
            if let Some(f) = p.pipes.stdin.take() {
                let _ = self.registry.deregister(&mut SourceFd(&f.as_raw_fd()));
            }
        }
    }

    // ----- the fork-loop guard ----------------------------------------------------

    fn arm_watch(&mut self, now: Instant) {
        let e = &self.cfg.exec;
        if e.max_group_processes == 0 || self.exec.running == 0 || self.exec.watch_timer.is_some() {
            return;
        }
        let at = now + Duration::from_millis(e.watch_interval_ms);
        self.exec.watch_timer = self.timers.insert(at, Timer::ExecWatch).ok();
    }

    /// Counting means reading every /proc/<pid>/stat: a worker does it.
    fn scan_groups(&mut self) {
        if self.exec.scan_running || self.exec.running == 0 {
            return;
        }
        let pgids: Vec<i32> = self
            .exec
            .procs
            .values()
            .filter(|p| p.status == ProcStatus::Running)
            .map(|p| p.pid)
            .collect();
        let job =
            Box::new(move || crate::workers::JobResult::ProcScan(spawn::count_groups(&pgids)));
        // A panicking scan reports "no counts": the flag clears, scans go on.
        let on_panic = Some(crate::workers::JobResult::ProcScan(Vec::new()));
        self.exec.scan_running = self.workers.submit(on_panic, job).is_ok();
    }

    pub(super) fn on_proc_scan(&mut self, counts: Vec<(i32, usize)>) {
        self.exec.scan_running = false;
        let max = self.cfg.exec.max_group_processes;
        for (pgid, n) in counts {
            if max == 0 || n <= max {
                continue;
            }
            let Some(p) = self
                .exec
                .procs
                .values_mut()
                .find(|p| p.pid == pgid && p.status == ProcStatus::Running)
            else {
                continue;
            };
            if p.kill_reason != Some("process-limit") {
                log::warn!(
                    "{}: {n} processes alive in its group (exec.maxGroupProcesses {max}); SIGKILL to the group",
                    p.id
                );
                p.kill_reason = Some("process-limit");
                self.exec.stats.process_limit_kills += 1;
            }
            // Again on every scan while it lasts: a fork in flight may
            // have escaped the previous one.
            let _ = spawn::kill_group(pgid, libc::SIGKILL);
        }
    }

    // ----- exits -----------------------------------------------------------------

    /// SIGCHLD: reap every running child that has exited, and the orphans
    /// adopted as subreaper before and after them: `reap_orphans` peeks at
    /// the first waitable child and stops at a run's, so an orphan that died
    /// with its run (a killed group) waits behind the run's zombie; SIGCHLDs
    /// coalesce, and no later one may come to reap it.
    pub fn on_sigchld(&mut self, now: Instant) {
        self.reap_adopted();
        self.reap_exited_runs(now);
        self.reap_adopted();
    }

    fn reap_exited_runs(&mut self, now: Instant) {
        for seq in self.exec.running_seqs() {
            let Some(p) = self.exec.procs.get_mut(&seq).filter(|p| p.exit.is_none()) else {
                continue; // reaped already, waiting for its pipes
            };
            let Some(info) = spawn::try_reap(p.pid) else {
                continue;
            };
            p.exit = Some(info);
            self.exec.stats.reaped += 1;
            // Output written just before the exit is still in the pipes.
            self.read_pipe(seq, Stream::Stdout, now);
            self.read_pipe(seq, Stream::Stderr, now);
            let Some(p) = self.exec.procs.get_mut(&seq) else {
                continue;
            };
            if p.status != ProcStatus::Running {
                continue; // finished by the reads above
            }
            if p.pipes_open() {
                // A grandchild holds the pipes: give it exitDrainMs.
                let at = now + Duration::from_millis(self.cfg.exec.exit_drain_ms);
                p.drain_timer = self.timers.insert(at, Timer::ExecDrain(seq)).ok();
                if p.drain_timer.is_none() {
                    self.finish_process(seq, now);
                }
            } else {
                self.finish_process(seq, now);
            }
        }
    }

    /// Records the end: closes pipes, tells the owner, audits, answers a
    /// waiting `exec.run`, starts the TTL.
    /// A run has ended: whatever it started that is still alive (a
    /// `setsid` escapee, a double fork, `nohup ... &`) carries its marker and
    /// is killed by a sweep on a worker; inline when the pool refuses.
    fn sweep_leftovers(&mut self, seq: u64) {
        let marker = spawn::run_marker(seq);
        let m = marker.clone();
        let tree = self.exec.cgroups.clone();
        let job = Box::new(move || {
            // The run's cgroup holds everything it started: kill it whole.
            let in_cgroup = tree.map_or(0, |t| t.kill_and_remove(seq, CGROUP_REMOVE_WAIT_MS));
            crate::workers::JobResult::Swept(in_cgroup + spawn::sweep(&m))
        });
        if self
            .workers
            .submit(Some(crate::workers::JobResult::Swept(0)), job)
            .is_err()
        {
            let n = spawn::sweep(&marker);
            self.on_swept(n);
        }
    }

    /// Orphans re-parented to us (we are the subreaper) are reaped here;
    /// a run's own pid is left for `try_reap`, which records its status.
    fn reap_adopted(&mut self) {
        let runs: Vec<i32> = self
            .exec
            .procs
            .values()
            .filter(|p| p.exit.is_none())
            .map(|p| p.pid)
            .collect();
        let n = spawn::reap_orphans(|pid| runs.contains(&pid), 256);
        self.exec.stats.orphans_reaped += n as u64;
    }

    pub(super) fn on_swept(&mut self, n: usize) {
        if n > 0 {
            log::warn!("exec: killed {n} process(es) a finished run left behind");
            self.exec.stats.leftovers_killed += n as u64;
        }
    }

    fn finish_process(&mut self, seq: u64, now: Instant) {
        let ttl = Duration::from_millis(self.cfg.exec.finished_ttl_ms);
        let Some(p) = self.exec.procs.get_mut(&seq) else {
            return;
        };
        if p.status != ProcStatus::Running {
            return;
        }
        if std::mem::take(&mut p.paused) {
            self.exec.paused -= 1;
        }
        self.sweep_leftovers(seq);
        let Some(p) = self.exec.procs.get_mut(&seq) else {
            return;
        };
        for t in [
            p.timeout_timer.take(),
            p.kill_timer.take(),
            p.drain_timer.take(),
        ]
        .into_iter()
        .flatten()
        {
            self.timers.cancel(t);
        }
        // Deregister before the handles drop and close the descriptors.
        for (fd, _) in p.pipes.fds() {
            let _ = self.registry.deregister(&mut SourceFd(&fd));
        }
        p.pipes.stdout = None;
        p.pipes.stderr = None;
        p.pipes.stdin = None;
        p.pipes.stdin_buf = Vec::new();
        p.ended = Some(now);
        let info = p.exit.unwrap_or(ExitInfo {
            code: None,
            signal: None,
        });
        p.status = match (p.kill_reason, info.signal) {
            (Some("timeout"), _) => ProcStatus::Timeout,
            (_, Some(_)) => ProcStatus::Killed,
            (Some(_), None) if info.code.is_none() => ProcStatus::Killed,
            _ => ProcStatus::Exited,
        };
        p.prune_timer = self.timers.insert(now + ttl, Timer::ExecPrune(seq)).ok();
        let duration_ms = p.duration_ms(now);
        let exit_payload = json!({
            "processId": p.id,
            "exitCode": info.code,
            "signal": info.signal.map(signal_name),
            "durationMs": duration_ms,
            "status": p.status,
            "reason": p.kill_reason,
            "outputBytes": p.out.end(),
            "truncated": p.out.truncated,
        });
        let owner = p.owner;
        let waiter = p.waiter.take();
        // The answer copies the kept output: only when someone waits for it.
        let result = waiter.as_ref().map(|_| p.result(now));
        let status = p.status;
        let audit = AuditRow {
            conn: owner.map(|c| c.to_string()),
            client_id: p.client_id.clone(),
            session_key: p.session_key.clone(),
            duration_us: Some(duration_ms * 1000),
            detail: Some(
                json!({
                    "processId": p.id, "pid": p.pid, "exitCode": info.code,
                    "signal": info.signal.map(signal_name), "outputBytes": p.out.end(),
                    "cwd": p.cwd, "reason": p.kill_reason,
                })
                .to_string(),
            ),
            ..AuditRow::new(
                wall_ms(),
                "exec",
                match status {
                    ProcStatus::Timeout => "timeout",
                    ProcStatus::Killed => "killed",
                    _ => "exited",
                },
                p.command
                    .chars()
                    .take(self.cfg.coach.audit_input_chars)
                    .collect(),
                p.approved_by.clone(),
            )
        };
        let id_text = p.id.clone();
        self.exec.running -= 1;
        match status {
            ProcStatus::Timeout => self.exec.stats.timed_out += 1,
            ProcStatus::Killed => self.exec.stats.killed += 1,
            _ => self.exec.stats.exited += 1,
        }
        log::info!(
            "{id_text}: {} after {duration_ms} ms (exit {:?}, signal {:?})",
            status.as_str(),
            info.code,
            info.signal
        );
        self.push_audit(audit);
        if let Some(owner) = owner {
            let ev = SharedEvent::new("process.exit", &exit_payload);
            self.send_event(owner, &ev, Priority::Eager, now);
        }
        if let Some(w) = waiter {
            if let Some(t) = w.timer {
                self.timers.cancel(t);
            }
            if let (Some(result), true) = (&result, self.conns.get(w.conn).is_some()) {
                self.reply_late(w.conn, &w.req_id, result, now);
            }
        }
        self.prune_finished();
    }

    /// Keeps at most `exec.maxFinished` finished processes (oldest go first).
    fn prune_finished(&mut self) {
        let max = self.cfg.exec.max_finished;
        while self.exec.finished() > max {
            let oldest = self
                .exec
                .procs
                .iter()
                .find(|(_, p)| p.status != ProcStatus::Running)
                .map(|(s, _)| *s);
            let Some(seq) = oldest else { break };
            self.remove_proc(seq);
        }
    }

    fn remove_proc(&mut self, seq: u64) {
        if let Some(mut p) = self.exec.procs.remove(&seq) {
            if let Some(t) = p.prune_timer.take() {
                self.timers.cancel(t);
            }
            self.exec.stats.pruned += 1;
        }
    }

    /// Signals a running process's group; SIGKILL follows after the grace.
    fn signal_process(&mut self, seq: u64, sig: i32, reason: &'static str, now: Instant) {
        let grace = Duration::from_millis(self.cfg.exec.kill_grace_ms);
        let Some(p) = self.exec.procs.get_mut(&seq) else {
            return;
        };
        if p.status != ProcStatus::Running {
            return;
        }
        p.kill_reason.get_or_insert(reason);
        if let Err(e) = spawn::kill_group(p.pid, sig) {
            log::debug!("{}: kill({sig}) failed: {e}", p.id);
        }
        // SIGKILL reaches what left the group too (setsid) through its cgroup.
        if sig == libc::SIGKILL {
            if let Some(t) = &self.exec.cgroups {
                t.kill_and_remove(seq, 0);
            }
        }
        if sig != libc::SIGKILL && p.kill_timer.is_none() {
            p.kill_timer = self.timers.insert(now + grace, Timer::ExecKill(seq)).ok();
        }
    }

    pub(super) fn on_exec_timer(&mut self, t: Timer, now: Instant) {
        match t {
            Timer::ExecTimeout(seq) => {
                if let Some(p) = self.exec.procs.get_mut(&seq) {
                    p.timeout_timer = None;
                    log::info!("{}: timed out; SIGTERM to its group", p.id);
                    p.kill_reason = Some("timeout");
                }
                self.signal_process(seq, libc::SIGTERM, "timeout", now);
            }
            Timer::ExecKill(seq) => {
                if let Some(p) = self.exec.procs.get_mut(&seq) {
                    p.kill_timer = None;
                    if p.status == ProcStatus::Running {
                        log::info!("{}: still there after the grace period; SIGKILL", p.id);
                        let _ = spawn::kill_group(p.pid, libc::SIGKILL);
                    }
                }
            }
            Timer::ExecDrain(seq) => {
                if let Some(p) = self.exec.procs.get_mut(&seq) {
                    p.drain_timer = None;
                }
                // Whatever the pipes still hold goes into the kept tail.
                self.read_pipe_with(seq, Stream::Stdout, true, now);
                self.read_pipe_with(seq, Stream::Stderr, true, now);
                self.finish_process(seq, now);
            }
            Timer::ExecYield(seq) => {
                let Some(p) = self.exec.procs.get_mut(&seq) else {
                    return;
                };
                let Some(w) = p.waiter.take() else {
                    return;
                };
                let result = p.result(now);
                if self.conns.get(w.conn).is_some() {
                    self.reply_late(w.conn, &w.req_id, &result, now);
                }
            }
            Timer::ExecWatch => {
                self.exec.watch_timer = None;
                self.scan_groups();
                self.arm_watch(now);
            }
            Timer::ExecPrune(seq) => {
                if let Some(p) = self.exec.procs.get_mut(&seq) {
                    p.prune_timer = None;
                }
                self.remove_proc(seq);
            }
            _ => {}
        }
    }

    /// A connection went away: its processes lose their owner (and are
    /// killed when `exec.onDisconnect` says so).
    pub(super) fn exec_conn_gone(&mut self, id: ConnId, now: Instant) {
        let kill = self.cfg.exec.on_disconnect == OnDisconnect::Kill;
        let mut to_kill = Vec::new();
        for (seq, p) in self.exec.procs.iter_mut() {
            if p.owner == Some(id) {
                p.owner = None;
                if let Some(w) = p.waiter.take() {
                    if let Some(t) = w.timer {
                        self.timers.cancel(t);
                    }
                }
                if kill && p.status == ProcStatus::Running {
                    to_kill.push(*seq);
                }
            }
        }
        for seq in to_kill {
            self.signal_process(seq, libc::SIGTERM, "disconnect", now);
        }
        // Nobody to wait for any more: drain freely.
        self.resume_where(|p| p.owner.is_none());
        self.approvals_conn_gone(id, now);
    }

    /// Shutdown: SIGTERM to every running group; the loop waits for their
    /// exits (or the grace) before it exits.
    pub(super) fn exec_shutdown(&mut self, now: Instant) {
        let seqs = self.exec.running_seqs();
        for seq in seqs {
            self.signal_process(seq, libc::SIGTERM, "shutdown", now);
        }
    }

    /// Last step before exit: anything still running gets SIGKILL, is
    /// reaped (bounded wait) and recorded.
    pub fn exec_final(&mut self, now: Instant) {
        let seqs = self.exec.running_seqs();
        for seq in seqs {
            let Some(p) = self.exec.procs.get_mut(&seq) else {
                continue;
            };
            p.kill_reason.get_or_insert("shutdown");
            let _ = spawn::kill_group(p.pid, libc::SIGKILL);
            if p.exit.is_none() {
                // SIGKILL cannot be ignored: the exit follows within moments.
                for _ in 0..200 {
                    if let Some(info) = spawn::try_reap(p.pid) {
                        p.exit = Some(info);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            self.read_pipe_with(seq, Stream::Stdout, true, now);
            self.read_pipe_with(seq, Stream::Stderr, true, now);
            self.finish_process(seq, now);
        }
        // Exit: nothing any run started outlives the gateway.
        let in_cgroups = self
            .exec
            .cgroups
            .as_ref()
            .map_or(0, |t| t.kill_all(CGROUP_REMOVE_WAIT_MS));
        let n = in_cgroups + spawn::sweep(&format!("{}.", std::process::id()));
        self.on_swept(n);
        spawn::reap_orphans(|_| false, 4096);
        self.flush_audit(now);
    }

    /// Running children (the shutdown waits for them).
    pub fn exec_running(&self) -> usize {
        self.exec.running
    }

    /// Periodic safety net: a SIGCHLD lost to coalescing is caught here.
    pub(super) fn exec_housekeeping(&mut self, now: Instant) {
        if self.exec.running > 0 {
            self.on_sigchld(now);
        }
    }

    // ----- process.* -------------------------------------------------------------

    /// Only the identity that started a process, or an admin, may write
    /// to it, kill it or remove it.
    fn may_control(&self, caller: ConnId, seq: u64, m: &str) -> Result<(), ErrorShape> {
        let admin = self.session(caller).is_some_and(|s| {
            s.scopes
                .iter()
                .any(|x| x == crate::protocol::handshake::SCOPE_ADMIN)
        });
        let p = &self.exec.procs[&seq];
        if admin || p.identity == self.identity_of(caller) {
            return Ok(());
        }
        Err(ErrorShape::new(
            ErrorCode::Forbidden,
            format!(
                "{m}: {} was started by another client; only it or an operator.admin may do this",
                p.id
            ),
        )
        .detail("NOT_PROCESS_OWNER", json!({"processId": p.id})))
    }

    fn proc_param(&self, p: Option<&Map<String, Value>>, m: &str) -> Result<u64, ErrorShape> {
        let Some(id) = opt_text(p, m, "processId", 64)? else {
            return Err(bad(
                m,
                "processId",
                "a process id from exec.run or process.list",
            ));
        };
        parse_id(id)
            .filter(|s| self.exec.procs.get(s).is_some_and(|p| p.id == id))
            .ok_or_else(|| not_found(id))
    }

    pub(super) fn process_list(
        &mut self,
        _id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "process.list";
        let p = params_object(req, &["status"])?;
        let want = opt_text(p, M, "status", 16)?;
        if let Some(w) = want {
            if !matches!(w, "running" | "finished") {
                return Err(bad(M, "status", "\"running\" or \"finished\""));
            }
        }
        let list: Vec<Value> = self
            .exec
            .procs
            .values()
            .filter(|p| match want {
                Some("running") => p.status == ProcStatus::Running,
                Some(_) => p.status != ProcStatus::Running,
                None => true,
            })
            .map(|p| p.summary(now))
            .collect();
        Ok(Payload::Json(json!({
            "count": list.len(),
            "running": self.exec.running,
            "maxProcesses": self.cfg.exec.max_processes,
            "processes": list,
        })))
    }

    pub(super) fn process_poll(
        &mut self,
        _id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "process.poll";
        let p = params_object(req, &["processId", "offset", "maxBytes"])?;
        let seq = self.proc_param(p, M)?;
        let offset = opt_u64_max(p, M, "offset", u64::MAX)?.unwrap_or(0);
        let max = opt_u64_max(p, M, "maxBytes", POLL_MAX_BYTES as u64)?
            .unwrap_or(POLL_MAX_BYTES as u64) as usize;
        let proc = &self.exec.procs[&seq];
        let since = proc.out.since(offset, max);
        let chunks: Vec<Value> = since
            .parts
            .iter()
            .map(|(s, off, data)| {
                let mut c = json!({"stream": s.as_str(), "offset": off});
                if proc.base64 {
                    c["data"] = json!(base64(data));
                    c["encoding"] = json!("base64");
                } else {
                    c["data"] = json!(String::from_utf8_lossy(data));
                }
                c
            })
            .collect();
        let mut v = proc.summary(now);
        v["chunks"] = json!(chunks);
        v["nextOffset"] = json!(since.next);
        v["missedBytes"] = json!(since.missed);
        v["endOffset"] = json!(proc.out.end());
        Ok(Payload::Json(v))
    }

    pub(super) fn process_write(
        &mut self,
        caller: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "process.write";
        let p = params_object(req, &["processId", "data", "eof"])?;
        let seq = self.proc_param(p, M)?;
        self.may_control(caller, seq, M)?;
        let max = self.cfg.exec.max_stdin_bytes;
        let data = opt_text(p, M, "data", max)?.unwrap_or("");
        let eof = opt_bool(p, M, "eof")?.unwrap_or(false);
        let proc = self.exec.procs.get_mut(&seq).expect("checked");
        if proc.status != ProcStatus::Running || proc.pipes.stdin.is_none() {
            let why = if proc.status != ProcStatus::Running {
                "the process has ended"
            } else if proc.pipes.stdin_eof {
                "its stdin is closed"
            } else {
                "it was started without stdin (exec.run {stdin:true} gives it a pipe)"
            };
            return Err(ErrorShape::invalid(format!(
                "process.write: {} cannot take input: {why}",
                proc.id
            ))
            .detail("STDIN_CLOSED", json!({"processId": proc.id})));
        }
        if proc.pipes.stdin_buf.len() + data.len() > max {
            return Err(ErrorShape::new(
                ErrorCode::Unavailable,
                format!(
                    "{}: {} bytes are still waiting for the child to read them (exec.maxStdinBytes {max})",
                    proc.id,
                    proc.pipes.stdin_buf.len()
                ),
            )
            .detail("STDIN_FULL", json!({"processId": proc.id}))
            .retry_after(RETRY_STDIN_FULL_MS));
        }
        proc.pipes.stdin_buf.extend_from_slice(data.as_bytes());
        proc.pipes.stdin_eof |= eof;
        let id = proc.id.clone();
        self.write_stdin(seq);
        let pending = self
            .exec
            .procs
            .get(&seq)
            .map(|p| p.pipes.stdin_buf.len())
            .unwrap_or(0);
        Ok(Payload::Json(
            json!({"ok": true, "processId": id, "accepted": data.len(), "pending": pending, "eof": eof}),
        ))
    }

    pub(super) fn process_kill(
        &mut self,
        caller: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "process.kill";
        let p = params_object(req, &["processId", "signal"])?;
        let seq = self.proc_param(p, M)?;
        self.may_control(caller, seq, M)?;
        let sig = match opt_text(p, M, "signal", 16)? {
            None => libc::SIGTERM,
            Some(s) => crate::exec::parse_signal(s).ok_or_else(|| {
                bad(
                    M,
                    "signal",
                    "SIGTERM, SIGKILL, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 or SIGUSR2",
                )
            })?,
        };
        let proc = &self.exec.procs[&seq];
        let id = proc.id.clone();
        if proc.status != ProcStatus::Running {
            return Ok(Payload::Json(
                json!({"ok": true, "processId": id, "status": proc.status, "alreadyEnded": true}),
            ));
        }
        self.signal_process(seq, sig, "kill", now);
        Ok(Payload::Json(json!({
            "ok": true, "processId": id, "status": "running", "signal": signal_name(sig),
            "killAfterMs": if sig == libc::SIGKILL { None } else { Some(self.cfg.exec.kill_grace_ms) },
        })))
    }

    pub(super) fn process_remove(
        &mut self,
        caller: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "process.remove";
        let p = params_object(req, &["processId"])?;
        let seq = self.proc_param(p, M)?;
        self.may_control(caller, seq, M)?;
        let proc = &self.exec.procs[&seq];
        if proc.status == ProcStatus::Running {
            return Err(ErrorShape::invalid(format!(
                "process.remove: {} is still running; process.kill it first",
                proc.id
            ))
            .detail("PROCESS_RUNNING", json!({"processId": proc.id})));
        }
        let id = proc.id.clone();
        self.remove_proc(seq);
        Ok(Payload::Json(json!({"ok": true, "processId": id})))
    }

    pub fn exec_summary(&self) -> Value {
        json!({
            "running": self.exec.running,
            "finished": self.exec.finished(),
            "maxProcesses": self.cfg.exec.max_processes,
            "pendingApprovals": self.approvals.pending_count(),
            "stats": self.exec.stats,
        })
    }
}

/// One `process.output` event for a read: text holds back a character cut
/// by the pipe (`flush` sends it anyway at EOF); base64 sends bytes as they are.
fn output_event(
    p: &mut Proc,
    stream: Stream,
    offset: u64,
    data: &[u8],
    flush: bool,
) -> Option<SharedEvent> {
    let mut lossy = false;
    let (text, start, encoding) = if p.base64 {
        (base64(data), offset, Some("base64"))
    } else {
        let i = stream as usize;
        let carry = std::mem::take(&mut p.pipes.carry[i]);
        let start = offset - carry.len() as u64;
        let mut bytes = carry;
        bytes.extend_from_slice(data);
        let cut = if flush { bytes.len() } else { utf8_cut(&bytes) };
        p.pipes.carry[i] = bytes[cut..].to_vec();
        bytes.truncate(cut);
        if bytes.is_empty() {
            return None;
        }
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                lossy = true;
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        (text, start, None)
    };
    let mut payload =
        json!({"processId": p.id, "stream": stream.as_str(), "offset": start, "data": text});
    if let Some(enc) = encoding {
        payload["encoding"] = json!(enc);
    }
    if lossy {
        payload["lossy"] = json!(true);
    }
    Some(SharedEvent::new("process.output", &payload))
}
