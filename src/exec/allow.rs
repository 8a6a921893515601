//! The configured allowlist: an exact argv[0] and, optionally, a pattern the
//! rest of the arguments must match as a whole. A command string is only
//! eligible when it is one simple command with no shell syntax at all, so
//! `ls; rm -rf ~` can never ride on an entry for `ls`.

use crate::matcher::Matcher;
use serde::{Deserialize, Serialize};

/// Largest compiled size of one argument pattern.
pub const ARGS_REGEX_SIZE_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AllowEntry {
    /// Exactly what argv[0] must be (`ls`, `/usr/bin/git`).
    pub command: String,
    /// A regex the remaining arguments, joined by single spaces, must match
    /// entirely. Absent: any arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
}

#[derive(Debug, Default)]
pub struct Allowlist {
    entries: Vec<(String, Option<Matcher>)>,
}

impl Allowlist {
    pub fn new(entries: &[AllowEntry]) -> Result<Allowlist, String> {
        let mut out = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if e.command.is_empty() {
                return Err(format!("entry {i}: `command` is empty"));
            }
            let re = match &e.args {
                None => None,
                Some(p) => Some(
                    Matcher::with_limit(&format!("^(?:{p})$"), ARGS_REGEX_SIZE_LIMIT).map_err(
                        |err| format!("entry {i} (`{}`): bad args pattern: {err}", e.command),
                    )?,
                ),
            };
            out.push((e.command.clone(), re));
        }
        Ok(Allowlist { entries: out })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when an entry covers this argv.
    pub fn allows(&self, argv: &[String]) -> bool {
        let Some((first, rest)) = argv.split_first() else {
            return false;
        };
        let args = rest.join(" ");
        self.entries.iter().any(|(cmd, re)| {
            cmd == first && re.as_ref().is_none_or(|r| r.is_match(args.as_bytes()))
        })
    }
}

/// The words of a command string when it is one plain simple command: no
/// quotes, escapes, expansions, redirections, globs or separators.
pub fn simple_words(command: &str) -> Option<Vec<String>> {
    const SHELL: &[u8] = b"|&;<>()$`\\\"'*?[]{}~#!=\n\r";
    if command
        .bytes()
        .any(|b| SHELL.contains(&b) || (b < 0x20 && b != b' ' && b != b'\t'))
    {
        return None;
    }
    let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    (!words.is_empty()).then_some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn test_exact_argv0_and_whole_args_match() {
        let a = Allowlist::new(&[
            AllowEntry {
                command: "ls".into(),
                args: None,
            },
            AllowEntry {
                command: "git".into(),
                args: Some("status|log( -n [0-9]+)?".into()),
            },
        ])
        .unwrap();
        assert!(a.allows(&argv("ls -la /tmp")));
        assert!(!a.allows(&argv("/bin/ls")));
        assert!(a.allows(&argv("git status")));
        assert!(a.allows(&argv("git log -n 5")));
        assert!(!a.allows(&argv("git status --porcelain")), "anchored");
        assert!(!a.allows(&argv("git push")));
        assert!(!a.allows(&[]));
    }

    #[test]
    fn test_simple_words_refuses_shell_syntax() {
        assert_eq!(simple_words("ls  -la /tmp"), Some(argv("ls -la /tmp")));
        for bad in [
            "ls; rm -rf ~",
            "ls && x",
            "ls | sh",
            "ls $(x)",
            "ls `x`",
            "ls > f",
            "ls 'a b'",
            "ls *",
            "A=1 ls",
            "ls\nrm",
        ] {
            assert_eq!(simple_words(bad), None, "{bad}");
        }
        assert_eq!(simple_words("   "), None);
    }

    #[test]
    fn test_bad_pattern_is_named() {
        let e = Allowlist::new(&[AllowEntry {
            command: "x".into(),
            args: Some("(".into()),
        }])
        .unwrap_err();
        assert!(e.contains("entry 0"), "{e}");
    }
}
