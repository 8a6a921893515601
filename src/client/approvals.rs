//! `clawgate approvals list|allow|deny`: answering approvals from a
//! terminal (headless boxes, scripts), against a running gateway with a
//! credential that holds `operator.approvals`.
//!
//! Exit codes: 0 done, 1 refused by the gateway (unknown id, already
//! decided, own request), 2 usage or unreachable gateway.

use super::{Client, ClientError, Target};
use serde_json::{json, Value};
use std::time::Duration;

const CLIENT_ID: &str = "clawgate-approvals";
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

const USAGE: &str =
    "clawgate approvals list [--json] | allow ID [--always] | deny ID   [--url URL] [--token T]";

pub fn run(args: &[String]) -> u8 {
    let mut url = None;
    let mut token = None;
    let mut always = false;
    let mut as_json = false;
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--url" | "--token" => {
                let Some(v) = args.get(i + 1).cloned() else {
                    eprintln!("clawgate approvals: {} needs a value", args[i]);
                    return 2;
                };
                if args[i] == "--url" {
                    url = Some(v)
                } else {
                    token = Some(v)
                }
                i += 1;
            }
            "--always" => always = true,
            "--json" => as_json = true,
            f if f.starts_with("--") => {
                eprintln!("clawgate approvals: unknown flag {f}\nusage: {USAGE}");
                return 2;
            }
            w => words.push(w.to_string()),
        }
        i += 1;
    }
    let target = match Target::from_env(url, token) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("clawgate approvals: {e}");
            return 2;
        }
    };
    let (verb, id) = (words.first().map(String::as_str), words.get(1));
    let call = match (verb, id, words.len()) {
        (Some("list"), None, 1) => ("exec.approval.list", json!({})),
        (Some("allow"), Some(id), 2) => (
            "exec.approval.resolve",
            json!({"id": id, "decision": if always { "allow-always" } else { "allow-once" }}),
        ),
        (Some("deny"), Some(id), 2) => (
            "exec.approval.resolve",
            json!({"id": id, "decision": "deny"}),
        ),
        _ => {
            eprintln!("usage: {USAGE}");
            return 2;
        }
    };
    let result = Client::connect(&target, CLIENT_ID, &["operator.read", "operator.approvals"])
        .and_then(|mut c| {
            let r = c.call(call.0, call.1, CALL_TIMEOUT);
            c.close();
            r
        });
    match result {
        Ok(v) if verb == Some("list") => {
            if as_json {
                println!("{v}");
            } else {
                print_list(&v);
            }
            0
        }
        Ok(v) => {
            println!(
                "{} {}",
                v["id"].as_str().unwrap_or_default(),
                v["decision"].as_str().unwrap_or_default()
            );
            0
        }
        Err(e @ ClientError::Remote { .. }) => {
            eprintln!("clawgate approvals: {e}");
            1
        }
        Err(e) => {
            eprintln!("clawgate approvals: {e}");
            2
        }
    }
}

fn print_list(v: &Value) {
    let list = v.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no approvals pending");
        return;
    }
    let now = crate::gateway::wall_ms();
    for a in list {
        let left = a["expiresAtMs"].as_u64().unwrap_or(0).saturating_sub(now) / 1000;
        let r = &a["request"];
        println!(
            "{}  {}s left  {}  [{}]",
            a["id"].as_str().unwrap_or("?"),
            left,
            r["command"].as_str().unwrap_or("?"),
            a["coach"]["severity"].as_str().unwrap_or("?"),
        );
        let mut extra = Vec::new();
        for k in ["cwd", "sessionKey", "requester"] {
            if let Some(s) = r[k].as_str().or_else(|| a[k].as_str()) {
                extra.push(format!("{k}={s}"));
            }
        }
        if let Some(m) = a["coach"]["matches"].as_array().and_then(|m| m.first()) {
            extra.push(format!("why: {}", m["title"].as_str().unwrap_or("")));
        }
        if !extra.is_empty() {
            println!("    {}", extra.join("  "));
        }
    }
}
