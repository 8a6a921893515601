//! Issue #21: `clawgate mcp` driven by the official MCP Python SDK over
//! stdio: an allowed run with its output (streamed as progress), a blocked
//! call, a call held for a person and granted from a second connection, a
//! path outside the roots refused, file tools inside them, and a JSON-RPC
//! error for a malformed call. Both modes: runs on the gateway host
//! (`exec.run`) and `--local` (decided by the gateway, run here, reported).

mod common;

use common::Gateway;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn sdk_present() -> bool {
    Command::new("python3")
        .args(["-c", "import mcp.client.stdio"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn drive(local: bool) {
    if !common::require_client(
        "the MCP Python SDK",
        sdk_present(),
        "pip install mcp (make clients)",
    ) {
        return;
    }
    let gw = Gateway::start(json!({}));
    let mut admin = gw.admin();
    let r = admin.call(
        "tokens.create",
        json!({"name": "mcp-agent", "scopes": ["operator.read", "operator.write"]}),
    );
    let token = r["payload"]["token"].as_str().unwrap().to_string();
    let mut approver = gw.client(&["operator.approvals"]);
    let root = tempfile::tempdir().unwrap();
    let root_path = std::fs::canonicalize(root.path()).unwrap();
    let (program, pre) = common::binary();
    // The SDK starts the server with a bare command: a runner prefix
    // (qemu) goes in a wrapper script.
    let server = if pre.is_empty() {
        program
    } else {
        let w = root_path.join("clawgate-wrapper.sh");
        std::fs::write(
            &w,
            format!("#!/bin/sh\nexec {} {} \"$@\"\n", program, pre.join(" ")),
        )
        .unwrap();
        std::fs::set_permissions(&w, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        w.display().to_string()
    };
    let mut args = vec![
        "tests/clients/mcp_client.py".to_string(),
        server,
        gw.url(),
        token,
        root_path.display().to_string(),
    ];
    if local {
        args.push("--local".into());
    }
    let mut child = Command::new("python3")
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut steps = Vec::new();
    for line in out.lines() {
        let line = line.unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or(json!({"raw": line}));
        if v["step"] == "holding" {
            let ev = approver.recv_until(|f| f["event"] == "exec.approval.requested");
            let p = &ev["payload"];
            assert!(p.to_string().contains(".aws/credentials"), "{ev}");
            let id = p["id"].as_str().unwrap();
            let r = approver.call(
                "exec.approval.resolve",
                json!({"id": id, "decision": "allow-once"}),
            );
            assert_eq!(r["ok"], true, "{r}");
        }
        steps.push(v);
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "steps {steps:?}\nstderr {err}");
    let names: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(
        names,
        [
            "init",
            "allowed",
            "blocked",
            "holding",
            "held-granted",
            "outside-root",
            "files",
            "write-blocked",
            "invalid-params",
            "done"
        ],
        "{steps:?}"
    );
    let blocked = steps[2]["text"].as_str().unwrap();
    assert!(blocked.contains("clawgate"), "{blocked}");
    if !local {
        assert!(
            steps[1]["progress"].as_u64().unwrap() >= 1,
            "output streamed as progress: {steps:?}"
        );
    }
    // What ran is in the audit trail, under the agent's credential.
    let db = rusqlite::Connection::open(gw.db_path()).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM audit WHERE conn LIKE '% agent:mcp-agent' AND input LIKE '%hello-from-mcp%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(n >= 1, "no audit row names the agent for the allowed run");
}

#[test]
fn mcp_sdk_runs_on_the_gateway_host() {
    drive(false);
}

#[test]
fn mcp_sdk_runs_locally_after_the_gateway_decides() {
    drive(true);
}
