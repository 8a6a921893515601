//! `clawgate check --offline [COMMAND...]`: the embedded coach judges a
//! command (the arguments, joined) or, with no arguments, a JSON tool call
//! on stdin (`{"command": ...}` or the coach's full input: `toolName`,
//! `filePath`, `content`, `url`, ...). It prints the decision as JSON and
//! exits 0 allow, 2 block, 3 ask; 1 for unusable input (never an allow).

use crate::coach::{rules::RuleSet, CheckInput, Coach, CoachSettings, Decision};

/// Exit codes, documented in the README ("Guard your agent").
pub const EXIT_ALLOW: u8 = 0;
pub const EXIT_BLOCK: u8 = 2;
pub const EXIT_ASK: u8 = 3;
pub const EXIT_BAD_INPUT: u8 = 1;

/// Longest stdin read: the coach's own input cap with room for JSON.
pub const MAX_STDIN_BYTES: usize = 1024 * 1024;

/// The coach's input from `args` (a command) or `stdin` (JSON).
pub fn input_from(args: &[String], stdin: &str) -> Result<CheckInput, String> {
    if !args.is_empty() {
        return Ok(CheckInput::command(&args.join(" ")));
    }
    let text = stdin.trim();
    if text.is_empty() {
        return Err(
            "nothing to check: give a command as arguments or a JSON tool call on stdin".into(),
        );
    }
    serde_json::from_str(text).map_err(|e| format!("stdin is not a tool call: {e}"))
}

/// Judges `input` with the embedded coach: the JSON answer and the exit code.
pub fn judge(input: &CheckInput) -> (serde_json::Value, u8) {
    let coach = Coach::new(CoachSettings::default());
    let v = coach.check(input, &RuleSet::default(), 0);
    let code = match v.decision {
        Decision::Allow => EXIT_ALLOW,
        Decision::Block => EXIT_BLOCK,
        Decision::Approve => EXIT_ASK,
    };
    let reason = v
        .top()
        .map(|m| format!("{}: {}", m.title, m.coaching))
        .unwrap_or_else(|| "no risk found".into());
    let out = serde_json::json!({
        "decision": v.decision,
        "severity": v.severity,
        "reason": reason,
        "matches": v.matches,
        "normalized": v.normalized,
        "source": "offline",
    });
    (out, code)
}

/// A gateway's `agent.check` answer as the JSON printed and the exit code.
/// A decision that cannot be read blocks (fails closed).
pub fn from_gateway(answer: &serde_json::Value) -> (serde_json::Value, u8) {
    let (p, reason) = super::hook::decide(answer);
    let raw = answer
        .get("decision")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("none");
    let (decision, code) = match (p, raw) {
        (super::hook::Permission::Allow, _) => ("allow", EXIT_ALLOW),
        (super::hook::Permission::Ask, _) => ("approve", EXIT_ASK),
        (super::hook::Permission::Deny, _) => ("block", EXIT_BLOCK),
    };
    let coach = answer.get("coach").unwrap_or(answer);
    let out = serde_json::json!({
        "decision": decision,
        "gatewayDecision": raw,
        "reason": reason,
        "resolvedBy": answer.get("resolvedBy"),
        "severity": coach.get("severity"),
        "matches": coach.get("matches"),
        "source": "gateway",
    });
    (out, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_exit_codes_follow_the_decision() {
        let judge_cmd = |c: &str| judge(&input_from(&[c.to_string()], "").unwrap()).1;
        assert_eq!(judge_cmd("ls -la"), EXIT_ALLOW);
        assert_eq!(judge_cmd("rm -rf /"), EXIT_BLOCK);
        assert_eq!(judge_cmd("cat ~/.ssh/id_rsa_work"), EXIT_ASK);
        let i = input_from(&[], r#"{"toolName":"read","filePath":"/etc/shadow"}"#).unwrap();
        assert_eq!(judge(&i).1, EXIT_BLOCK);
        assert!(input_from(&[], "").is_err());
        assert!(input_from(&[], "{not json").is_err());
    }
}
