//! Thin entry point: parse the command line, build the config, run the loop.

use clawgate::cli::{self, AuditAction, Command};
use clawgate::config::log_level;
use clawgate::gateway::methods::VERSION;
use clawgate::{observe, reactor};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match cli::parse(&args, std::env::var("CLAWGATE_TOKEN").ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("clawgate: {e}");
            return ExitCode::from(2);
        }
    };
    match cmd {
        Command::Help => {
            print!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("clawgate {VERSION}");
            ExitCode::SUCCESS
        }
        Command::Audit {
            action,
            src,
            out,
            expect_head,
        } => audit(action, &src, out.as_deref(), expect_head.as_deref()),
        Command::Token { action, src } => token(action, &src),
        Command::Tool { name, args } => ExitCode::from(match name.as_str() {
            "check" => clawgate::agent::cmd::run_check(&args),
            "hook" => clawgate::agent::cmd::run_hook(&args),
            "mcp" => clawgate::agent::cmd::run_mcp(&args),
            _ => clawgate::client::approvals::run(&args),
        }),
        Command::TlsGenerate {
            src,
            out,
            hosts,
            days,
            force,
        } => tls_generate(&src, out, &hosts, days, force),
        Command::CheckConfig(src) => match src.load() {
            Ok(cfg) => {
                if let (Some(cert), Some(key)) = (&cfg.tls.cert_path, &cfg.tls.key_path) {
                    match clawgate::net::tls::Acceptor::load(cert, key) {
                        Ok(a) => println!("tls: {} (SHA-256 {})", cert.display(), a.fingerprint()),
                        Err(e) => {
                            eprintln!("clawgate: {e}");
                            return ExitCode::from(2);
                        }
                    }
                }
                let budget = cfg.worst_case_memory();
                let out =
                    serde_json::json!({"config": cfg.redacted_json(), "worstCaseMemory": budget});
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
                println!("{}", cli::describe_budget(&budget));
                let warn_at = cfg.memory.budget_bytes as f64 * cfg.memory.warn_percent / 100.0;
                if budget.total_bytes as f64 > warn_at {
                    println!(
                        "note: the worst case passes memory.warnPercent of memory.budgetBytes ({} bytes): at full load the gateway would refuse new connections and processes before its limits are reached",
                        cfg.memory.budget_bytes
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("clawgate: {e}");
                ExitCode::from(2)
            }
        },
        Command::Run(src) => {
            clawgate::exec::spawn::private_umask();
            clawgate::workers::one_heap();
            let cfg = match src.load() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("clawgate: {e}");
                    return ExitCode::from(2);
                }
            };
            let level = log_level(&cfg.log.level).unwrap_or(log::LevelFilter::Info);
            let logfile = if cfg.log.file {
                let opts = observe::logfile::LogFileOptions {
                    max_file_bytes: cfg.log.max_file_bytes,
                    max_files: cfg.log.max_files,
                    buffer_lines: cfg.log.buffer_lines,
                };
                match observe::logfile::LogFile::open(&cfg.server.data_dir, opts, level) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        eprintln!(
                            "clawgate: log file in {}: {e}",
                            cfg.server.data_dir.display()
                        );
                        return ExitCode::from(1);
                    }
                }
            } else {
                None
            };
            observe::init_logging(level, logfile.clone());
            install_panic_hook(logfile.clone());
            let mut r = match reactor::Reactor::new(cfg, src, logfile) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("clawgate: {e}");
                    return ExitCode::from(1);
                }
            };
            // Printed on stdout so scripts and tests can wait for it.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "clawgate {VERSION} listening on {}://{}",
                r.scheme(),
                r.local_addr()
            );
            let _ = writeln!(out, "token: {}", r.gw_token_origin());
            let _ = out.flush();
            drop(out);
            match r.run() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("clawgate: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// `clawgate tls generate`: a self-signed pair for `wss://` on a LAN.
fn tls_generate(
    src: &clawgate::config::ConfigSource,
    out: Option<std::path::PathBuf>,
    extra: &[String],
    days: u32,
    force: bool,
) -> ExitCode {
    use clawgate::net::tls;
    let dir = match out {
        Some(d) => d,
        None => match src.load() {
            Ok(cfg) => cfg.server.data_dir.join("tls"),
            Err(e) => {
                eprintln!("clawgate: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let hosts = cli::tls_hosts(hostname.as_deref(), extra);
    let written = tls::generate(&hosts, days).and_then(|g| {
        let paths = tls::write_pair(&dir, &g, force)?;
        Ok((g, paths))
    });
    match written {
        Ok((g, (cert, key))) => {
            println!("certificate: {}", cert.display());
            println!("private key: {} (mode 0600)", key.display());
            println!("names: {}", hosts.join(", "));
            println!("valid for: {days} days");
            println!("SHA-256 fingerprint: {}", g.fingerprint);
            println!(
                "config: {}",
                serde_json::json!({"tls": {"certPath": cert, "keyPath": key}})
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("clawgate: {e}");
            ExitCode::from(1)
        }
    }
}

/// `clawgate token create|list|revoke` on the data dir's database (the
/// gateway may be running: SQLite's WAL lets both write).
fn token(action: cli::TokenAction, src: &clawgate::config::ConfigSource) -> ExitCode {
    use clawgate::store::{credentials::Credential, Store, StoreOptions};
    let cfg = match src.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("clawgate: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = StoreOptions {
        cache_bytes: 1 << 20,
        mmap_bytes: 0,
        max_bytes: cfg.store.max_db_bytes,
        synchronous_full: true,
        index_batch: cfg.store.index_batch,
    };
    let mut store = match Store::open(&cfg.server.data_dir, &opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("clawgate: {e}");
            return ExitCode::from(2);
        }
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("clawgate: {e}");
        ExitCode::from(2)
    };
    match action {
        cli::TokenAction::Create {
            name,
            kind,
            scopes,
            device,
        } => {
            let secret = match clawgate::gateway::auth::new_credential_secret() {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            let c = Credential {
                name: name.clone(),
                kind,
                scopes,
                device_id: device,
                created_ms: now_ms,
                revoked_ms: None,
            };
            match store.insert_credential(&c, &clawgate::gateway::auth::secret_sha256(&secret)) {
                Ok(true) => {
                    eprintln!(
                        "credential `{name}` ({}: {}); the secret is shown once:",
                        c.kind,
                        c.scopes.join(",")
                    );
                    println!("{secret}");
                    ExitCode::SUCCESS
                }
                Ok(false) => fail(&format!(
                    "a credential named `{name}` exists (revoke it or pick another name)"
                )),
                Err(e) => fail(&e),
            }
        }
        cli::TokenAction::List => match store.list_credentials() {
            Ok(list) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        cli::TokenAction::Revoke { name } => match store.revoke_credential(&name, now_ms) {
            Ok(true) => {
                eprintln!("credential `{name}` revoked: new connections with it are refused");
                ExitCode::SUCCESS
            }
            Ok(false) => fail(&format!("no live credential named `{name}`")),
            Err(e) => fail(&e),
        },
    }
}

fn audit(
    action: AuditAction,
    src: &clawgate::config::ConfigSource,
    out: Option<&std::path::Path>,
    expect_head: Option<&str>,
) -> ExitCode {
    use clawgate::store::{audit, DB_FILE};
    let cfg = match src.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("clawgate: {e}");
            return ExitCode::from(2);
        }
    };
    let path = cfg.server.data_dir.join(DB_FILE);
    let db = match audit::open_read_only(&path) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("clawgate: {e}");
            return ExitCode::from(2);
        }
    };
    match action {
        AuditAction::Verify => match audit::verify_expecting(&db, expect_head) {
            Ok(rep) => {
                println!("{}", serde_json::to_string(&rep).unwrap_or_default());
                if rep.ok() {
                    eprintln!(
                        "audit chain intact: {} rows ({} before the chain), head row {} {}",
                        rep.rows,
                        rep.legacy_rows,
                        rep.head_id.unwrap_or(0),
                        rep.head_hash.as_deref().unwrap_or(audit::GENESIS)
                    );
                    ExitCode::SUCCESS
                } else {
                    eprintln!(
                        "audit chain BROKEN at row {}: {}",
                        rep.broken_at.unwrap_or(0),
                        rep.problem.as_deref().unwrap_or("")
                    );
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("clawgate: {e}");
                ExitCode::from(2)
            }
        },
        AuditAction::Export => {
            let res = match out {
                Some(p) => match std::fs::File::create(p) {
                    Ok(f) => audit::export(&db, &mut std::io::BufWriter::new(f)),
                    Err(e) => {
                        eprintln!("clawgate: cannot write {}: {e}", p.display());
                        return ExitCode::from(2);
                    }
                },
                None => audit::export(&db, &mut std::io::BufWriter::new(std::io::stdout().lock())),
            };
            match res {
                Ok(n) => {
                    eprintln!("exported {n} audit rows");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("clawgate: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// Logs a panic (thread, location, message) through the log, and flushes the
/// buffered log file, before the default hook prints and the process ends:
/// an internal fault must leave a trace where operators look. Panics that a
/// worker catches are logged too.
fn install_panic_hook(logfile: Option<std::sync::Arc<clawgate::observe::logfile::LogFile>>) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        log::error!(
            "panic in thread {}: {info}",
            thread.name().unwrap_or("unnamed")
        );
        if let Some(f) = &logfile {
            f.flush();
        }
        default(info);
    }));
}
