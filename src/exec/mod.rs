//! Running approved commands: spawning a child in its own process group with
//! a scrubbed environment, the bounded output it leaves behind, and the
//! allowlist that lets known-safe commands skip the human.
//!
//! Nothing here touches the loop or the clock: the gateway side
//! (`src/gateway/exec.rs`) registers the pipes in the poll, owns the timers
//! and answers the methods.

pub mod allow;
pub mod cgroup;
pub mod output;
pub mod spawn;

use mio::Token;

/// Commands longer than this are never remembered by "allow-always" (the
/// decision then counts as allow-once), which bounds the set's memory.
pub const ALLOW_ALWAYS_MAX_KEY_BYTES: usize = 4096;

/// Process pipe tokens carry this bit; connection tokens never reach it
/// (their generation would have to pass 2^30 first).
pub const PROC_TOKEN_BIT: usize = 1 << 62;

/// Which pipe of a child a readiness event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
    Stdin = 2,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Stdin => "stdin",
        }
    }
}

/// Process sequence numbers are never reused, so a readiness event for a
/// process that is gone finds nothing instead of a newcomer (the same job
/// the generation does for connections).
pub fn proc_token(seq: u64, stream: Stream) -> Token {
    Token(PROC_TOKEN_BIT | ((seq as usize) << 2) | stream as usize)
}

pub fn from_proc_token(t: Token) -> Option<(u64, Stream)> {
    if t.0 & PROC_TOKEN_BIT == 0 {
        return None;
    }
    let raw = t.0 & !PROC_TOKEN_BIT;
    let stream = match raw & 3 {
        0 => Stream::Stdout,
        1 => Stream::Stderr,
        2 => Stream::Stdin,
        _ => return None,
    };
    Some(((raw >> 2) as u64, stream))
}

/// Signal names as clients send and see them.
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGPIPE => "SIGPIPE".into(),
        libc::SIGUSR1 => "SIGUSR1".into(),
        libc::SIGUSR2 => "SIGUSR2".into(),
        libc::SIGXCPU => "SIGXCPU".into(),
        n => format!("SIG{n}"),
    }
}

/// Signals a client may send with `process.kill`.
pub fn parse_signal(name: &str) -> Option<i32> {
    Some(match name.trim_start_matches("SIG") {
        "TERM" => libc::SIGTERM,
        "KILL" => libc::SIGKILL,
        "INT" => libc::SIGINT,
        "HUP" => libc::SIGHUP,
        "QUIT" => libc::SIGQUIT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        _ => return None,
    })
}

/// A command as a human reads it: argv joined with the shell quoting that
/// would give the same argv back.
pub fn display_argv(argv: &[String]) -> String {
    let mut out = String::new();
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let plain = !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
        if plain {
            out.push_str(a);
        } else {
            out.push('\'');
            out.push_str(&a.replace('\'', r"'\''"));
            out.push('\'');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_token_roundtrip_and_separation() {
        for seq in [1u64, 2, 77, 1 << 40] {
            for s in [Stream::Stdout, Stream::Stderr, Stream::Stdin] {
                assert_eq!(from_proc_token(proc_token(seq, s)), Some((seq, s)));
            }
        }
        assert_eq!(from_proc_token(Token(17)), None);
        let conn = crate::net::ConnId {
            index: 5,
            generation: 9,
        };
        assert_eq!(from_proc_token(conn.token()), None);
    }

    #[test]
    fn test_display_argv_quotes_what_the_shell_would_split() {
        let argv: Vec<String> = ["ls", "-la", "my file", "it's"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(display_argv(&argv), r"ls -la 'my file' 'it'\''s'");
    }

    #[test]
    fn test_signals() {
        assert_eq!(parse_signal("SIGKILL"), Some(libc::SIGKILL));
        assert_eq!(parse_signal("TERM"), Some(libc::SIGTERM));
        assert_eq!(parse_signal("SIGSTOP"), None);
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
    }
}
