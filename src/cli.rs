//! Command line: flags, `--check-config`, `--version`, `--help`.

use crate::config::{ConfigSource, MemoryBudget};
use std::path::PathBuf;

pub const USAGE: &str = "\
clawgate: a security gateway for AI agents (OpenClaw gateway protocol)

USAGE:
    clawgate [OPTIONS]
    clawgate audit verify [--config PATH | --data-dir DIR] [--expect-head HASH]
    clawgate audit export [--config PATH | --data-dir DIR] [--out FILE]
    clawgate tls generate [--config PATH | --data-dir DIR] [--out DIR] [--host NAME]...
                          [--days N] [--force]
    clawgate token create --name NAME --scopes S1,S2 [--kind agent|operator] [--device ID]
                          [--config PATH | --data-dir DIR]    prints the secret once
    clawgate token list   [--config PATH | --data-dir DIR]
    clawgate check [--offline | --url URL --token T] [--hold] [COMMAND...]
                          a command, or a JSON tool call on stdin, judged by a running
                          gateway (rules, approvals, audit) or the embedded coach
                          (--offline); prints the decision; exit 0 allow, 2 block, 3 ask,
                          1 bad input; an unreachable gateway is a block (exit 2)
    clawgate hook claude-code [--url URL --token T]   Claude Code's command hook
    clawgate hook install claude-code [--http URL] [--settings FILE]
    clawgate mcp [--url URL --token T] [--root DIR]... [--local]   MCP server on stdio
    clawgate approvals list|allow ID|deny ID [--always] [--url URL --token T]
    clawgate token revoke NAME [--config PATH | --data-dir DIR]

OPTIONS:
    --config PATH       JSON config file (default: embedded defaults)
    --bind ADDR         listen address (default 127.0.0.1)
    --port N            listen port (default 18789; 0 picks a free port)
    --data-dir DIR      data directory: token file, database, logs (default ./clawgate-data)
    --token TOKEN       shared token (also env CLAWGATE_TOKEN); default: <data-dir>/token,
                        generated on first start with mode 0600
    --log-level LEVEL   error, warn, info, debug or trace
    --check-config      print the effective config (secrets redacted) and its
                        worst-case memory, then exit
    --version           print the version
    --help              print this help

AGENT COMMANDS read --url / --token from CLAWGATE_URL / CLAWGATE_TOKEN when not given
(default URL ws://127.0.0.1:18789).

AUDIT:
    verify              walk the hash-chained audit trail; exit 0 when intact, 1 naming
                        the first row that was altered or removed (read-only); with
                        --expect-head, a head hash noted earlier (the log and the audit
                        forwarder carry it) must still be in the chain: a cut tail fails
    export              write every audit row as JSON Lines (stdout, or --out FILE)

TLS (a binary built with --features tls):
    generate            write a self-signed ECDSA P-256 pair for LAN use: cert.pem and
                        key.pem (mode 0600) into --out (default <data-dir>/tls), for
                        localhost, 127.0.0.1, ::1, this host's name and <name>.local plus
                        every --host; prints the SHA-256 fingerprint clients can pin and
                        the `tls` config section that serves wss:// with it

SIGNALS:
    SIGTERM, SIGINT     tell clients, close with 1012, exit 0 within the grace period
    SIGHUP              re-read the config file; limits and token apply without dropping anyone
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(ConfigSource),
    CheckConfig(ConfigSource),
    Version,
    Help,
    /// `clawgate audit verify|export`.
    Audit {
        action: AuditAction,
        src: ConfigSource,
        out: Option<PathBuf>,
        expect_head: Option<String>,
    },
    /// `clawgate check|hook|mcp|approvals ...`: the commands that run
    /// beside a gateway (parsed by their own modules).
    Tool {
        name: String,
        args: Vec<String>,
    },
    /// `clawgate token create|list|revoke`.
    Token {
        action: TokenAction,
        src: ConfigSource,
    },
    /// `clawgate tls generate`.
    TlsGenerate {
        src: ConfigSource,
        out: Option<PathBuf>,
        hosts: Vec<String>,
        days: u32,
        force: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAction {
    /// A new credential: name, kind (`agent` or `operator`), scopes, and
    /// optionally the device it is bound to.
    Create {
        name: String,
        kind: String,
        scopes: Vec<String>,
        device: Option<String>,
    },
    List,
    Revoke {
        name: String,
    },
}

fn parse_token(args: &[String]) -> Result<Command, String> {
    let action = args.first().map(String::as_str);
    let mut src = ConfigSource::default();
    let (mut name, mut kind, mut scopes, mut device) =
        (None, "agent".to_string(), Vec::new(), None);
    let mut flags = Flags::new(args.get(1..).unwrap_or(&[]));
    while let Some(flag) = flags.next_flag() {
        match flag {
            "--config" | "-c" => src.path = Some(PathBuf::from(flags.value("--config")?)),
            "--data-dir" => src.data_dir = Some(PathBuf::from(flags.value("--data-dir")?)),
            "--name" => name = Some(flags.value("--name")?),
            "--kind" => kind = flags.value("--kind")?,
            "--scopes" => {
                scopes = flags
                    .value("--scopes")?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "--device" => device = Some(flags.value("--device")?),
            other if action == Some("revoke") && !other.starts_with('-') && name.is_none() => {
                name = Some(other.to_string())
            }
            other => return Err(format!("token: unknown argument `{other}` (see --help)")),
        }
    }
    let action = match action {
        Some("create") => {
            let name = name.ok_or("token create needs --name NAME")?;
            if let Some(why) = crate::store::credentials::problem(&name, &kind, &scopes) {
                return Err(format!("token create: {why}"));
            }
            TokenAction::Create {
                name,
                kind,
                scopes,
                device,
            }
        }
        Some("list") => {
            if name.is_some() || !scopes.is_empty() || device.is_some() {
                return Err("token list takes no --name, --scopes or --device".into());
            }
            TokenAction::List
        }
        Some("revoke") => TokenAction::Revoke {
            name: name.ok_or("token revoke needs a NAME")?,
        },
        _ => return Err("token needs an action: create, list or revoke (see --help)".into()),
    };
    Ok(Command::Token { action, src })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Verify,
    Export,
}

/// `--flag value` and `--flag=value`, one flag at a time.
struct Flags<'a> {
    it: std::slice::Iter<'a, String>,
    inline: Option<String>,
}

impl<'a> Flags<'a> {
    fn new(args: &'a [String]) -> Flags<'a> {
        Flags {
            it: args.iter(),
            inline: None,
        }
    }

    fn next_flag(&mut self) -> Option<&'a str> {
        let arg = self.it.next()?;
        match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => {
                self.inline = Some(v.to_string());
                Some(f)
            }
            _ => {
                self.inline = None;
                Some(arg.as_str())
            }
        }
    }

    fn value(&mut self, name: &str) -> Result<String, String> {
        self.inline
            .take()
            .or_else(|| self.it.next().cloned())
            .ok_or_else(|| format!("{name} needs a value (see --help)"))
    }
}

fn parse_audit(args: &[String]) -> Result<Command, String> {
    let action = match args.first().map(String::as_str) {
        Some("verify") => AuditAction::Verify,
        Some("export") => AuditAction::Export,
        Some(other) => {
            return Err(format!(
                "audit: unknown action `{other}` (verify or export)"
            ))
        }
        None => return Err("audit needs an action: verify or export (see --help)".into()),
    };
    let mut src = ConfigSource::default();
    let mut out = None;
    let mut expect_head = None;
    let mut flags = Flags::new(&args[1..]);
    while let Some(flag) = flags.next_flag() {
        match flag {
            "--config" | "-c" => src.path = Some(PathBuf::from(flags.value("--config")?)),
            "--data-dir" => src.data_dir = Some(PathBuf::from(flags.value("--data-dir")?)),
            "--out" | "-o" if action == AuditAction::Export => {
                out = Some(PathBuf::from(flags.value("--out")?))
            }
            "--expect-head" if action == AuditAction::Verify => {
                let h = flags.value("--expect-head")?;
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err("--expect-head needs a 64-digit hex hash".into());
                }
                expect_head = Some(h)
            }
            other => return Err(format!("audit: unknown argument `{other}` (see --help)")),
        }
    }
    Ok(Command::Audit {
        action,
        src,
        out,
        expect_head,
    })
}

fn parse_tls(args: &[String]) -> Result<Command, String> {
    match args.first().map(String::as_str) {
        Some("generate") => {}
        Some(other) => return Err(format!("tls: unknown action `{other}` (generate)")),
        None => return Err("tls needs an action: generate (see --help)".into()),
    }
    let mut src = ConfigSource::default();
    let (mut out, mut hosts, mut force) = (None, Vec::new(), false);
    let mut days = crate::net::tls::DEFAULT_DAYS;
    let mut flags = Flags::new(&args[1..]);
    while let Some(flag) = flags.next_flag() {
        match flag {
            "--config" | "-c" => src.path = Some(PathBuf::from(flags.value("--config")?)),
            "--data-dir" => src.data_dir = Some(PathBuf::from(flags.value("--data-dir")?)),
            "--out" | "-o" => out = Some(PathBuf::from(flags.value("--out")?)),
            "--host" => {
                let h = flags.value("--host")?;
                if h.is_empty() || h.contains(|c: char| c.is_whitespace() || c == '/') {
                    return Err(format!("--host: `{h}` is not a host name or IP address"));
                }
                hosts.push(h);
            }
            "--days" => {
                let v = flags.value("--days")?;
                days = v
                    .parse()
                    .ok()
                    .filter(|d| (1..=3650).contains(d))
                    .ok_or_else(|| format!("--days: `{v}` is not a number of days (1-3650)"))?;
            }
            "--force" => force = true,
            other => return Err(format!("tls: unknown argument `{other}` (see --help)")),
        }
    }
    Ok(Command::TlsGenerate {
        src,
        out,
        hosts,
        days,
        force,
    })
}

/// The names a LAN certificate covers: loopback, this host (and its mDNS
/// name, how a Pi is usually reached), then `extra`; no duplicates.
pub fn tls_hosts(hostname: Option<&str>, extra: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if let Some(h) = hostname.map(str::trim).filter(|h| !h.is_empty()) {
        hosts.push(h.to_string());
        if !h.contains('.') {
            hosts.push(format!("{h}.local"));
        }
    }
    for h in extra {
        if !hosts.iter().any(|x| x.eq_ignore_ascii_case(h)) {
            hosts.push(h.clone());
        }
    }
    hosts
}

/// Parses `args` (without the program name). `env_token` is `CLAWGATE_TOKEN`.
pub fn parse(args: &[String], env_token: Option<String>) -> Result<Command, String> {
    match args.first().map(String::as_str) {
        Some("audit") => return parse_audit(&args[1..]),
        Some("tls") => return parse_tls(&args[1..]),
        Some("token") => return parse_token(&args[1..]),
        Some(name @ ("check" | "hook" | "mcp" | "approvals")) => {
            return Ok(Command::Tool {
                name: name.to_string(),
                args: args[1..].to_vec(),
            });
        }
        _ => {}
    }
    let mut src = ConfigSource::default();
    let mut check = false;
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_flag() {
        match flag {
            "--config" | "-c" => src.path = Some(PathBuf::from(flags.value("--config")?)),
            "--bind" => src.bind = Some(flags.value("--bind")?),
            "--port" => {
                let v = flags.value("--port")?;
                src.port = Some(
                    v.parse()
                        .map_err(|_| format!("--port: `{v}` is not a port number (0-65535)"))?,
                );
            }
            "--data-dir" => src.data_dir = Some(PathBuf::from(flags.value("--data-dir")?)),
            "--token" => src.token = Some(flags.value("--token")?),
            "--log-level" => src.log_level = Some(flags.value("--log-level")?),
            "--check-config" => check = true,
            "--version" | "-V" => return Ok(Command::Version),
            "--help" | "-h" => return Ok(Command::Help),
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    if src.token.is_none() {
        src.token = env_token.filter(|t| !t.is_empty());
    }
    Ok(if check {
        Command::CheckConfig(src)
    } else {
        Command::Run(src)
    })
}

/// Human-readable worst-case memory lines for `--check-config`.
pub fn describe_budget(b: &MemoryBudget) -> String {
    let mb = |n: usize| n as f64 / (1024.0 * 1024.0);
    format!(
        "worst-case memory: {:.1} MiB = fixed {:.1} MiB + {} connections x {:.1} KiB + {} unauthenticated x {:.1} KiB + store {:.1} MiB + coach {:.1} MiB + exec {:.1} MiB + cache {:.1} MiB + limits {:.1} MiB + audit forward {:.1} MiB (children of exec.run: {:.0} MiB more); memory.budgetBytes is the runtime alarm, not this bound",
        mb(b.total_bytes),
        mb(b.fixed_bytes),
        b.connections,
        b.per_connection_bytes as f64 / 1024.0,
        b.unauthenticated,
        b.per_unauthenticated_bytes as f64 / 1024.0,
        mb(b.store_bytes),
        mb(b.coach_bytes),
        mb(b.exec_bytes),
        mb(b.cache_bytes),
        mb(b.limits_bytes),
        mb(b.forward_bytes),
        b.children_bytes as f64 / (1024.0 * 1024.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn test_tls_generate_flags() {
        let Command::TlsGenerate {
            out,
            hosts,
            days,
            force,
            ..
        } = parse(
            &args(&[
                "tls",
                "generate",
                "--out",
                "/x",
                "--host",
                "pi.lan",
                "--days=30",
                "--force",
            ]),
            None,
        )
        .unwrap()
        else {
            panic!()
        };
        assert_eq!(out, Some(PathBuf::from("/x")));
        assert_eq!(hosts, vec!["pi.lan".to_string()]);
        assert_eq!((days, force), (30, true));
        let e = parse(&args(&["tls", "generate", "--days", "0"]), None).unwrap_err();
        assert!(e.contains("--days"), "{e}");
        let e = parse(&args(&["tls", "make"]), None).unwrap_err();
        assert!(e.contains("unknown action `make`"), "{e}");
        let e = parse(&args(&["tls", "generate", "--host", "a b"]), None).unwrap_err();
        assert!(e.contains("--host"), "{e}");
    }

    #[test]
    fn test_tls_hosts() {
        let h = tls_hosts(
            Some("raspberrypi\n"),
            &["pi.lan".into(), "LOCALHOST".into()],
        );
        assert_eq!(
            h,
            [
                "localhost",
                "127.0.0.1",
                "::1",
                "raspberrypi",
                "raspberrypi.local",
                "pi.lan"
            ]
        );
        assert_eq!(tls_hosts(None, &[]).len(), 3);
    }

    #[test]
    fn test_flags() {
        let Command::Run(s) = parse(
            &args(&["--port", "0", "--bind=127.0.0.2", "--token", "t"]),
            None,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(s.port, Some(0));
        assert_eq!(s.bind.as_deref(), Some("127.0.0.2"));
        assert_eq!(s.token.as_deref(), Some("t"));
    }

    #[test]
    fn test_env_token_is_fallback() {
        let Command::Run(s) = parse(&[], Some("envtok".into())).unwrap() else {
            panic!()
        };
        assert_eq!(s.token.as_deref(), Some("envtok"));
        let Command::Run(s) = parse(&args(&["--token", "flag"]), Some("envtok".into())).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.token.as_deref(), Some("flag"));
    }

    #[test]
    fn test_audit_subcommand() {
        let Command::Audit {
            action, src, out, ..
        } = parse(
            &args(&["audit", "export", "--data-dir", "/d", "--out=/x.jsonl"]),
            None,
        )
        .unwrap()
        else {
            panic!()
        };
        assert_eq!(action, AuditAction::Export);
        assert_eq!(src.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(out, Some(PathBuf::from("/x.jsonl")));
        assert!(parse(&args(&["audit"]), None)
            .unwrap_err()
            .contains("verify or export"));
        assert!(parse(&args(&["audit", "verify", "--out", "f"]), None)
            .unwrap_err()
            .contains("--out"));
        let h = "ab".repeat(32);
        let Command::Audit { expect_head, .. } =
            parse(&args(&["audit", "verify", "--expect-head", &h]), None).unwrap()
        else {
            panic!()
        };
        assert_eq!(expect_head.as_deref(), Some(h.as_str()));
        assert!(
            parse(&args(&["audit", "verify", "--expect-head", "x"]), None)
                .unwrap_err()
                .contains("64-digit")
        );
    }

    #[test]
    fn test_token_subcommand() {
        let Command::Token { action, src } = parse(
            &args(&[
                "token",
                "create",
                "--name",
                "ci",
                "--scopes",
                "operator.read,operator.write",
                "--data-dir=/d",
            ]),
            None,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(src.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(
            action,
            TokenAction::Create {
                name: "ci".into(),
                scopes: vec!["operator.read".into(), "operator.write".into()],
                kind: "agent".into(),
                device: None
            }
        );
        assert!(parse(&args(&["token", "create", "--name", "x"]), None)
            .unwrap_err()
            .contains("--scopes"));
        assert!(parse(&args(&["token", "revoke"]), None)
            .unwrap_err()
            .contains("NAME"));
        assert!(parse(&args(&["token", "list", "--name", "x"]), None)
            .unwrap_err()
            .contains("--name"));
    }

    #[test]
    fn test_errors_are_precise() {
        assert!(parse(&args(&["--port", "x"]), None)
            .unwrap_err()
            .contains("--port"));
        assert!(parse(&args(&["--nope"]), None)
            .unwrap_err()
            .contains("--nope"));
        assert!(parse(&args(&["--config"]), None)
            .unwrap_err()
            .contains("needs a value"));
    }
}
