//! The command line: `--check-config`, config errors, `--version`, `--help`.

mod common;

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let (program, mut pre) = common::binary();
    pre.extend(args.iter().map(|s| s.to_string()));
    let out = Command::new(program)
        .args(&pre)
        .env_remove("CLAWGATE_TOKEN")
        .output()
        .expect("run clawgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_prints_effective_config_and_worst_case() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(
        &path,
        r#"{"auth":{"token":"super-secret"},"connections":{"maxConnections":1000}}"#,
    )
    .unwrap();
    let (code, out, err) = run(&["--check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("super-secret"), "secrets redacted: {out}");
    assert!(out.contains("<redacted>"));
    assert!(out.contains("\"maxConnections\": 1000"));
    assert!(out.contains("worst-case memory:"), "{out}");
    assert!(out.contains("1000 connections"), "{out}");
}

#[test]
fn broken_config_names_key_file_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, r#"{"websocket":{"maxPayload":"big"}}"#).unwrap();
    let (code, _, err) = run(&["--check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.json"), "{err}");
    assert!(err.contains("websocket.maxPayload"), "{err}");
    assert!(err.contains("string"), "{err}");

    std::fs::write(&path, r#"{"websocket":{"maxPayloads":1}}"#).unwrap();
    let (code, _, err) = run(&["--config", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown key `maxPayloads`"), "{err}");

    std::fs::write(&path, "{ not json").unwrap();
    let (code, _, err) = run(&["--check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.json") && err.contains("line 1"), "{err}");

    let (code, _, err) = run(&["--check-config", "--config", "/nonexistent/clawgate.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/clawgate.json"), "{err}");
}

#[test]
fn flags_override_and_bad_flags_are_explained() {
    let (code, out, _) = run(&["--check-config", "--port", "1234", "--bind", "127.0.0.2"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("\"port\": 1234") && out.contains("127.0.0.2"),
        "{out}"
    );
    let (code, _, err) = run(&["--port", "banana"]);
    assert_eq!(code, 2);
    assert!(err.contains("--port"), "{err}");
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("clawgate "));
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--check-config"));
}

#[test]
fn shipped_pi_example_config_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/pi/clawgate.example.json");
    let (code, out, err) = run(&["--check-config", "--config", path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"dataDir\": \"/var/lib/clawgate\""), "{out}");
    assert!(
        !out.contains("enableTestMethods\": true"),
        "test methods stay off"
    );
}

#[test]
fn unusable_data_dir_is_named_at_start() {
    // A path under a regular file can never be a directory (even for root).
    let (code, _, err) = run(&[
        "--port",
        "0",
        "--token",
        "t",
        "--data-dir",
        "/dev/null/clawgate",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/dev/null/clawgate"), "{err}");
}
