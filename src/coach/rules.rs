//! User rules: allow or deny by pattern id and/or a regex over the
//! normalised input, with an optional expiry. Stored in SQLite by the
//! gateway; held here compiled. The regex crate runs in linear time, so a
//! user regex cannot cause catastrophic backtracking; its compiled size is
//! capped so it cannot eat memory either.

use super::{Category, Match, Severity};
use serde::{Deserialize, Serialize};

/// Compiled-size cap for one user regex.
pub const RULE_REGEX_SIZE_LIMIT: usize = 16 * 1024;
/// Longest accepted regex source.
pub const RULE_REGEX_MAX_LEN: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    Allow,
    Deny,
}

impl RuleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleAction::Allow => "allow",
            RuleAction::Deny => "deny",
        }
    }
}

/// A rule as stored and listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleSpec {
    pub id: String,
    pub action: RuleAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub created_by: String,
    pub created_at_ms: u64,
}

#[derive(Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    re: Option<crate::matcher::Matcher>,
}

impl Rule {
    pub fn id(&self) -> &str {
        &self.spec.id
    }
    fn live(&self, now_ms: u64) -> bool {
        self.spec.expires_at_ms.is_none_or(|e| e > now_ms)
    }
    fn input_matches(&self, normalized: &str) -> bool {
        self.re
            .as_ref()
            .is_none_or(|r| r.is_match(normalized.as_bytes()))
    }
}

/// Compiles a user regex with the size cap, or explains why not.
pub fn compile_user_regex(src: &str) -> Result<crate::matcher::Matcher, String> {
    if src.len() > RULE_REGEX_MAX_LEN {
        return Err(format!(
            "pattern is {} bytes; the limit is {RULE_REGEX_MAX_LEN}",
            src.len()
        ));
    }
    // ASCII mode: the regex crates are built without Unicode tables; the
    // text a rule sees is normalised (look-alikes folded to ASCII).
    crate::matcher::Matcher::with_limit(src, RULE_REGEX_SIZE_LIMIT).map_err(|e| match e {
        crate::matcher::Error::TooBig(limit) => {
            format!("pattern compiles to more than {limit} bytes; simplify it")
        }
        crate::matcher::Error::Syntax(msg) => format!("pattern is not a valid regex: {msg}"),
    })
}

impl Rule {
    pub fn new(spec: RuleSpec) -> Result<Rule, String> {
        if spec.pattern_id.is_none() && spec.pattern.is_none() {
            return Err("a rule needs patternId, pattern, or both".into());
        }
        let re = match &spec.pattern {
            Some(p) => Some(compile_user_regex(p)?),
            None => None,
        };
        Ok(Rule { spec, re })
    }
}

#[derive(Default, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    pub fn len(&self) -> usize {
        self.rules.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
    pub fn push(&mut self, r: Rule) {
        self.rules.retain(|x| x.spec.id != r.spec.id);
        self.rules.push(r);
    }
    pub fn remove(&mut self, id: &str) -> bool {
        let n = self.rules.len();
        self.rules.retain(|x| x.spec.id != id);
        n != self.rules.len()
    }
    pub fn specs(&self) -> impl Iterator<Item = &RuleSpec> {
        self.rules.iter().map(|r| &r.spec)
    }
    /// Drops expired rules; returns their ids.
    pub fn expire(&mut self, now_ms: u64) -> Vec<String> {
        let gone: Vec<String> = self
            .rules
            .iter()
            .filter(|r| !r.live(now_ms))
            .map(|r| r.spec.id.clone())
            .collect();
        self.rules.retain(|r| r.live(now_ms));
        gone
    }

    /// A deny rule that applies: by regex over the input, and by pattern id
    /// when it names one (then that pattern must have matched).
    pub fn deny_for(&self, normalized: &str, matches: &[Match], now_ms: u64) -> Option<&RuleSpec> {
        self.rules
            .iter()
            .filter(|r| r.spec.action == RuleAction::Deny && r.live(now_ms))
            .find(|r| {
                r.input_matches(normalized)
                    && r.spec
                        .pattern_id
                        .as_ref()
                        .is_none_or(|p| matches.iter().any(|m| m.pattern_id == p))
            })
            .map(|r| &r.spec)
    }

    /// Removes the matches that allow rules cover; returns the first rule
    /// that applied. A rule with a pattern id covers only that pattern; a
    /// regex-only rule covers every match for inputs it matches.
    pub fn allow_filter(
        &self,
        normalized: &str,
        matches: &mut Vec<Match>,
        now_ms: u64,
    ) -> Option<String> {
        let mut applied = None;
        for r in self
            .rules
            .iter()
            .filter(|r| r.spec.action == RuleAction::Allow && r.live(now_ms))
        {
            if !r.input_matches(normalized) {
                continue;
            }
            let before = matches.len();
            match &r.spec.pattern_id {
                Some(p) => matches.retain(|m| m.pattern_id != p),
                None => matches.clear(),
            }
            if matches.len() < before && applied.is_none() {
                applied = Some(r.spec.id.clone());
            }
        }
        applied
    }
}

pub fn deny_match(rank: usize) -> Match {
    Match {
        pattern_id: "user.deny-rule",
        category: Category::CodeInjection,
        severity: Severity::Critical,
        title: "Denied by a user rule",
        coaching: "The operator has a rule that refuses this call.",
        recommendation: "Ask the operator if the rule should change.",
        rank,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coach::{CheckInput, Coach, CoachSettings, Decision};

    fn spec(
        id: &str,
        action: RuleAction,
        pid: Option<&str>,
        pat: Option<&str>,
        exp: Option<u64>,
    ) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            action,
            pattern_id: pid.map(Into::into),
            pattern: pat.map(Into::into),
            expires_at_ms: exp,
            note: None,
            created_by: "test".into(),
            created_at_ms: 0,
        }
    }

    #[test]
    fn test_allow_is_scoped_to_pattern_and_command() {
        let c = Coach::new(CoachSettings::default());
        let mut rs = RuleSet::default();
        let v = c.check(&CheckInput::command("git push --force origin main"), &rs, 0);
        assert_eq!(v.decision, Decision::Approve);
        let pid = v.top().unwrap().pattern_id;
        let pat = format!("^{}$", regex_syntax::escape(&v.normalized));
        rs.push(Rule::new(spec("r1", RuleAction::Allow, Some(pid), Some(&pat), None)).unwrap());
        let v = c.check(&CheckInput::command("git push --force origin main"), &rs, 0);
        assert_eq!(v.decision, Decision::Allow);
        assert_eq!(v.rule_id.as_deref(), Some("r1"));
        // Same pattern, other command: still asked.
        let v = c.check(
            &CheckInput::command("git push --force origin release"),
            &rs,
            0,
        );
        assert_eq!(v.decision, Decision::Approve);
    }

    #[test]
    fn test_deny_and_expiry() {
        let c = Coach::new(CoachSettings::default());
        let mut rs = RuleSet::default();
        rs.push(
            Rule::new(spec(
                "d1",
                RuleAction::Deny,
                None,
                Some(r"^npm publish"),
                Some(1000),
            ))
            .unwrap(),
        );
        assert_eq!(
            c.check(&CheckInput::command("npm publish"), &rs, 10)
                .decision,
            Decision::Block
        );
        assert_eq!(
            c.check(&CheckInput::command("npm publish"), &rs, 2000)
                .decision,
            Decision::Allow
        );
        assert_eq!(rs.expire(2000), vec!["d1".to_string()]);
        assert!(rs.is_empty());
    }

    #[test]
    fn test_user_regex_limits() {
        assert!(compile_user_regex("a{1000}{1000}")
            .unwrap_err()
            .contains("more than"));
        assert!(compile_user_regex("(unclosed")
            .unwrap_err()
            .contains("not a valid regex"));
        assert!(compile_user_regex(&"a".repeat(5000))
            .unwrap_err()
            .contains("limit"));
        assert!(Rule::new(spec("x", RuleAction::Allow, None, None, None)).is_err());
    }

    /// Rules compile in ASCII mode (no Unicode tables in the build), but a
    /// literal non-ASCII character still matches its own UTF-8 bytes, so an
    /// allow-always rule over such a line keeps working.
    #[test]
    fn test_non_ascii_literals_still_match() {
        let r = compile_user_regex(&format!("^{}$", regex_syntax::escape("rm ~/é ✓"))).unwrap();
        assert!(r.is_match("rm ~/é ✓".as_bytes()));
        assert!(!r.is_match("rm ~/e ✓".as_bytes()));
    }
}
