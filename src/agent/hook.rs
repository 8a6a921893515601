//! Claude Code hooks: the documented hook input (`session_id`,
//! `transcript_path`, `cwd`, `hook_event_name`, `tool_name`, `tool_input`,
//! and `tool_response` after the tool ran) mapped onto the coach's input,
//! and a decision mapped back onto the hook output
//! (`hookSpecificOutput.permissionDecision` allow | deny | ask with a
//! reason written for the person). Pure functions: the gateway's endpoint
//! (`POST /hooks/claude-code`) and the command form share them.

use crate::coach::CheckInput;
use serde_json::{json, Value};

/// Largest hook input the command form reads from stdin (the gateway's
/// own bound is `agents.maxBodyBytes`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The events clawgate answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    PreToolUse,
    PostToolUse,
}

/// One hook call, as Claude Code sends it.
#[derive(Debug, Clone)]
pub struct HookInput {
    pub event: Event,
    pub session_id: Option<String>,
    pub cwd: Option<String>,
    pub tool_name: String,
    pub tool_input: Value,
    pub tool_response: Option<Value>,
}

/// What a hook body can be refused for (HTTP 400, with this text).
pub fn parse(body: &[u8]) -> Result<HookInput, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("hook body is not JSON: {e}"))?;
    let Some(o) = v.as_object() else {
        return Err("hook body must be a JSON object (Claude Code's hook input)".into());
    };
    let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    let event = match o.get("hook_event_name").and_then(Value::as_str) {
        Some("PreToolUse") => Event::PreToolUse,
        Some("PostToolUse") => Event::PostToolUse,
        Some(other) => {
            return Err(format!(
                "hook_event_name `{other}` is not handled here: register clawgate for PreToolUse and PostToolUse"
            ))
        }
        None => return Err("hook_event_name (a string) is missing".into()),
    };
    let tool_name = match s("tool_name") {
        Some(t) if !t.is_empty() => t,
        _ => return Err("tool_name (a non-empty string) is missing".into()),
    };
    let tool_input = match o.get("tool_input") {
        Some(t @ Value::Object(_)) => t.clone(),
        _ => return Err("tool_input (an object) is missing".into()),
    };
    Ok(HookInput {
        event,
        session_id: s("session_id"),
        cwd: s("cwd"),
        tool_name,
        tool_input,
        tool_response: o.get("tool_response").cloned(),
    })
}

fn field(input: &Value, key: &str) -> Option<String> {
    input.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The coach's input for a Claude Code tool call. The coach's own tool
/// vocabulary decides how content and paths are read (`write` content is
/// what lands in a file; a `read` path is a read), so names are mapped.
pub fn check_input(tool: &str, input: &Value) -> CheckInput {
    let mut c = CheckInput::default();
    let coach_tool = match tool {
        "Bash" => {
            c.command = field(input, "command");
            "bash"
        }
        "Read" => {
            c.file_path = field(input, "file_path");
            "read"
        }
        "Write" => {
            c.file_path = field(input, "file_path");
            c.content = field(input, "content");
            "write"
        }
        "Edit" => {
            c.file_path = field(input, "file_path");
            c.content = field(input, "new_string");
            "edit"
        }
        "MultiEdit" => {
            c.file_path = field(input, "file_path");
            let parts: Vec<&str> = input
                .get("edits")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|e| e["new_string"].as_str()).collect())
                .unwrap_or_default();
            c.content = (!parts.is_empty()).then(|| parts.join("\n"));
            "edit"
        }
        "NotebookEdit" => {
            c.file_path = field(input, "notebook_path");
            c.content = field(input, "new_source");
            "edit"
        }
        "WebFetch" => {
            c.url = field(input, "url");
            "web_fetch"
        }
        "Grep" | "Glob" => {
            c.file_path = field(input, "path");
            c.params = Some(input.clone());
            "search"
        }
        // WebSearch, mcp__<server>__<tool> and anything newer: the coach
        // reads the parameters by the names tools give them (an MCP shell
        // tool's `cmd` is a command, a write tool's `path` is written).
        _ => {
            c.params = Some(input.clone());
            tool
        }
    };
    c.tool_name = Some(coach_tool.to_string());
    if c.is_empty() {
        // A known tool called without its main field still gets looked at.
        c.params = Some(input.clone());
    }
    c
}

/// What the agent is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Allow,
    Deny,
    Ask,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Allow => "allow",
            Permission::Deny => "deny",
            Permission::Ask => "ask",
        }
    }
}

/// The coaching text of the strongest match: what was seen, why it matters
/// and what to do instead.
pub fn coaching(verdict: &Value) -> Option<String> {
    let m = verdict.get("matches")?.as_array()?.first()?;
    let title = m["title"].as_str().unwrap_or("");
    let mut s = title.to_string();
    for k in ["coaching", "recommendation"] {
        if let Some(t) = m[k].as_str().filter(|t| !t.is_empty()) {
            if !s.is_empty() {
                s.push_str(if s.ends_with('.') { " " } else { ". " });
            }
            s.push_str(t);
        }
    }
    (!s.is_empty()).then_some(s)
}

/// A gateway answer (`agent.check`, or `security.coach.check`) as a
/// permission and a reason for the person. Anything not understood is a
/// deny: the decision fails closed.
pub fn decide(answer: &Value) -> (Permission, String) {
    let coach = answer.get("coach").unwrap_or(answer);
    let why = coaching(coach);
    let by = answer["resolvedBy"].as_str().unwrap_or("a person");
    match answer["decision"].as_str() {
        Some("allow") => (
            Permission::Allow,
            why.map(|w| format!("clawgate allowed this (noted: {w})"))
                .unwrap_or_else(|| "clawgate: no risk found".into()),
        ),
        Some("allow-once") | Some("allow-always") => (
            Permission::Allow,
            format!("clawgate: approved by {by}"),
        ),
        Some("approve") => (
            Permission::Ask,
            format!(
                "clawgate asks you to confirm: {}",
                why.unwrap_or_else(|| "this call needs a person's approval".into())
            ),
        ),
        Some("block") => (
            Permission::Deny,
            format!(
                "clawgate blocked this: {}",
                why.unwrap_or_else(|| "the security coach refused it".into())
            ),
        ),
        Some("deny") if by == "coach" => (
            Permission::Deny,
            format!(
                "clawgate blocked this: {}",
                why.unwrap_or_else(|| "the security coach refused it".into())
            ),
        ),
        Some("deny") => (Permission::Deny, format!("clawgate: denied by {by}")),
        _ if answer.get("decision").is_some_and(Value::is_null) => (
            Permission::Deny,
            "clawgate: nobody approved this in time, so it is denied (ask again once someone can answer in the console)".into(),
        ),
        _ => (
            Permission::Deny,
            "clawgate: no decision could be read, so this call is denied".into(),
        ),
    }
}

/// Claude Code's PreToolUse output.
pub fn pre_output(p: Permission, reason: &str) -> Value {
    json!({"hookSpecificOutput": {
        "hookEventName": "PreToolUse",
        "permissionDecision": p.as_str(),
        "permissionDecisionReason": reason,
    }})
}

/// The answer when clawgate itself cannot decide (gateway unreachable,
/// error): deny, saying why.
pub fn deny_output(reason: &str) -> Value {
    pre_output(
        Permission::Deny,
        &format!("clawgate: {reason}; denied to be safe"),
    )
}

/// How a finished tool call ended, for the audit row: `ok` or `failed`
/// and a short summary of the response.
pub fn outcome(resp: Option<&Value>) -> (&'static str, Value) {
    let Some(r) = resp else {
        return ("ran", Value::Null);
    };
    let failed = r.get("success").and_then(Value::as_bool) == Some(false)
        || r.get("is_error").and_then(Value::as_bool) == Some(true)
        || r.get("interrupted").and_then(Value::as_bool) == Some(true)
        || r.get("exitCode")
            .and_then(Value::as_i64)
            .is_some_and(|c| c != 0);
    let mut summary = serde_json::Map::new();
    if let Some(o) = r.as_object() {
        for k in [
            "success",
            "exitCode",
            "interrupted",
            "is_error",
            "filePath",
            "type",
        ] {
            if let Some(v) = o.get(k) {
                summary.insert(k.into(), v.clone());
            }
        }
        for k in ["stdout", "stderr", "error", "content"] {
            if let Some(s) = o.get(k).and_then(Value::as_str) {
                summary.insert(format!("{k}Bytes"), json!(s.len()));
            }
        }
    }
    (if failed { "failed" } else { "ok" }, Value::Object(summary))
}

/// The settings snippet: PreToolUse and PostToolUse on every tool, as an
/// HTTP hook (`url`) or the command form. `timeout_s` is above the
/// gateway's hold so a held call gets its answer first.
pub fn settings_snippet(url: Option<&str>, timeout_s: u64) -> Value {
    let hook = match url {
        Some(u) => json!({
            "type": "http",
            "url": format!("{}/hooks/claude-code", u.trim_end_matches('/')),
            "headers": {"Authorization": "Bearer $CLAWGATE_TOKEN"},
            "allowedEnvVars": ["CLAWGATE_TOKEN"],
            "timeout": timeout_s,
        }),
        None => json!({
            "type": "command",
            "command": "clawgate hook claude-code",
            "timeout": timeout_s,
        }),
    };
    let entry = json!([{"matcher": "*", "hooks": [hook]}]);
    json!({"hooks": {"PreToolUse": entry, "PostToolUse": entry}})
}

/// Merges the snippet into a settings object: our entries replace earlier
/// clawgate entries (same url or command) and leave everyone else's alone.
pub fn merge_settings(settings: &mut Value, snippet: &Value) -> Result<(), String> {
    if !settings.is_object() {
        return Err("the settings file does not hold a JSON object".into());
    }
    let hooks = settings
        .as_object_mut()
        .and_then(|o| {
            o.entry("hooks")
                .or_insert_with(|| json!({}))
                .as_object_mut()
        })
        .ok_or("`hooks` in the settings file is not an object")?;
    for (event, entries) in snippet["hooks"].as_object().into_iter().flatten() {
        let list = hooks
            .entry(event.clone())
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .ok_or_else(|| format!("`hooks.{event}` is not a list"))?;
        let ours = |e: &Value| {
            e["hooks"].as_array().is_some_and(|hs| {
                hs.iter().any(|h| {
                    h["url"]
                        .as_str()
                        .is_some_and(|u| u.ends_with("/hooks/claude-code"))
                        || h["command"]
                            .as_str()
                            .is_some_and(|c| c.contains("clawgate hook claude-code"))
                })
            })
        };
        list.retain(|e| !ours(e));
        list.extend(entries.as_array().into_iter().flatten().cloned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_pre_tool_use() {
        let body = br#"{"session_id":"s","transcript_path":"/t.jsonl","cwd":"/w","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls","description":"list"}}"#;
        let h = parse(body).unwrap();
        assert_eq!(h.event, Event::PreToolUse);
        assert_eq!(
            check_input(&h.tool_name, &h.tool_input).command.as_deref(),
            Some("ls")
        );
        assert!(parse(b"{").unwrap_err().contains("not JSON"));
        assert!(parse(br#"{"hook_event_name":"Stop"}"#)
            .unwrap_err()
            .contains("Stop"));
        assert!(
            parse(br#"{"hook_event_name":"PreToolUse","tool_name":"Bash"}"#)
                .unwrap_err()
                .contains("tool_input")
        );
    }

    #[test]
    fn test_mapping_per_tool() {
        let w = check_input("Write", &json!({"file_path": "/a", "content": "x"}));
        assert_eq!(
            (w.file_path.as_deref(), w.content.as_deref()),
            (Some("/a"), Some("x"))
        );
        assert_eq!(w.tool_name.as_deref(), Some("write"));
        let m = check_input(
            "MultiEdit",
            &json!({"file_path": "/a", "edits": [{"old_string": "a", "new_string": "b"}, {"old_string": "c", "new_string": "d"}]}),
        );
        assert_eq!(m.content.as_deref(), Some("b\nd"));
        let n = check_input(
            "NotebookEdit",
            &json!({"notebook_path": "/n.ipynb", "new_source": "print(1)"}),
        );
        assert_eq!(n.file_path.as_deref(), Some("/n.ipynb"));
        let f = check_input("WebFetch", &json!({"url": "https://x", "prompt": "p"}));
        assert_eq!(f.url.as_deref(), Some("https://x"));
        let s = check_input("mcp__db__query", &json!({"sql": "drop table x"}));
        assert_eq!(s.params, Some(json!({"sql": "drop table x"})));
        let e = check_input("Bash", &json!({}));
        assert!(!e.is_empty(), "an empty call is still checked");
    }

    #[test]
    fn test_decisions_fail_closed() {
        assert_eq!(decide(&json!({"decision": "allow"})).0, Permission::Allow);
        assert_eq!(decide(&json!({"decision": "approve"})).0, Permission::Ask);
        assert_eq!(
            decide(&json!({"decision": "allow-once", "resolvedBy": "ann"})).0,
            Permission::Allow
        );
        assert_eq!(decide(&json!({"decision": null})).0, Permission::Deny);
        assert_eq!(decide(&json!({"decision": "maybe"})).0, Permission::Deny);
        assert_eq!(decide(&json!({})).0, Permission::Deny);
        let (p, r) = decide(
            &json!({"decision": "block", "matches": [{"title": "Pipe to shell", "coaching": "Runs code unseen.", "recommendation": "Download, read, then run."}]}),
        );
        assert_eq!(p, Permission::Deny);
        assert!(
            r.contains("Pipe to shell. Runs code unseen. Download"),
            "{r}"
        );
    }

    #[test]
    fn test_merge_keeps_other_hooks_and_replaces_ours() {
        let mut s = json!({"model": "x", "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "mine"}]}]}});
        let snip = settings_snippet(None, 70);
        merge_settings(&mut s, &snip).unwrap();
        merge_settings(&mut s, &snip).unwrap();
        let pre = s["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(pre.len(), 2, "{s}");
        assert_eq!(s["model"], "x");
        assert!(merge_settings(&mut json!([]), &snip).is_err());
    }
}
