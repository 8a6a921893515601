//! Thin entry point: parse the command line, build the config, run the loop.

use clawgate::cli::{self, Command};
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
        Command::CheckConfig(src) => match src.load() {
            Ok(cfg) => {
                let budget = cfg.worst_case_memory();
                let out =
                    serde_json::json!({"config": cfg.redacted_json(), "worstCaseMemory": budget});
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
                println!("{}", cli::describe_budget(&budget));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("clawgate: {e}");
                ExitCode::from(2)
            }
        },
        Command::Run(src) => {
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
            let mut r = match reactor::Reactor::new(cfg, src) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("clawgate: {e}");
                    return ExitCode::from(1);
                }
            };
            r.gw.logfile = logfile;
            // Printed on stdout so scripts and tests can wait for it.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "clawgate {VERSION} listening on ws://{}",
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
