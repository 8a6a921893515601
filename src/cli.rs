//! Command line: flags, `--check-config`, `--version`, `--help`.

use crate::config::{ConfigSource, MemoryBudget};
use std::path::PathBuf;

pub const USAGE: &str = "\
clawgate: a security gateway for AI agents (OpenClaw gateway protocol)

USAGE:
    clawgate [OPTIONS]

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
}

/// Parses `args` (without the program name). `env_token` is `CLAWGATE_TOKEN`.
pub fn parse(args: &[String], env_token: Option<String>) -> Result<Command, String> {
    let mut src = ConfigSource::default();
    let mut check = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value (see --help)"))
        };
        match flag {
            "--config" | "-c" => src.path = Some(PathBuf::from(value("--config")?)),
            "--bind" => src.bind = Some(value("--bind")?),
            "--port" => {
                let v = value("--port")?;
                src.port = Some(
                    v.parse()
                        .map_err(|_| format!("--port: `{v}` is not a port number (0-65535)"))?,
                );
            }
            "--data-dir" => src.data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--token" => src.token = Some(value("--token")?),
            "--log-level" => src.log_level = Some(value("--log-level")?),
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
        "worst-case memory: {:.1} MiB = fixed {:.1} MiB + {} connections x {:.1} KiB + {} unauthenticated x {:.1} KiB + store {:.1} MiB + coach {:.1} MiB",
        mb(b.total_bytes),
        mb(b.fixed_bytes),
        b.connections,
        b.per_connection_bytes as f64 / 1024.0,
        b.unauthenticated,
        b.per_unauthenticated_bytes as f64 / 1024.0,
        mb(b.store_bytes),
        mb(b.coach_bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
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
