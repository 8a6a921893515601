//! pi/install.sh against a directory root (`--root DIR --no-systemctl`):
//! file layout, modes, limits derived from the config, idempotence, the
//! refusal of a binary that rejects the installed config. The ssh path of
//! `make deploy` is exercised against localhost only when an sshd answers.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A source dir as `make deploy` copies it: binary + unit + example config.
fn source_dir(dir: &Path, binary: &str) -> std::path::PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(binary, src.join("clawgate")).unwrap();
    for f in ["clawgate.service", "clawgate.example.json"] {
        std::fs::copy(Path::new(REPO).join("pi").join(f), src.join(f)).unwrap();
    }
    src
}

fn install(root: &Path, src: &Path) -> (bool, String) {
    let out = Command::new("bash")
        .arg(Path::new(REPO).join("pi/install.sh"))
        .args(["--root", root.to_str().unwrap(), "--no-systemctl"])
        .arg(src)
        .output()
        .expect("run install.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn install_script_layout_modes_and_idempotence() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let src = source_dir(tmp.path(), env!("CARGO_BIN_EXE_clawgate"));
    let (ok, out) = install(&root, &src);
    assert!(ok, "{out}");

    let conf = root.join("etc/clawgate/clawgate.json");
    assert_eq!(mode(&root.join("opt/clawgate/clawgate")), 0o755);
    assert_eq!(mode(&conf), 0o640);
    assert_eq!(mode(&root.join("var/lib/clawgate")), 0o700);
    assert_eq!(
        mode(&root.join("etc/systemd/system/clawgate.service")),
        0o644
    );
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/clawgate.service")).unwrap();
    for needle in [
        "User=clawgate",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
        "LimitNOFILE=",
    ] {
        assert!(unit.contains(needle), "unit lacks {needle}");
    }
    let limits =
        std::fs::read_to_string(root.join("etc/systemd/system/clawgate.service.d/limits.conf"))
            .unwrap();
    // MemoryMax = the example config's worst case + 25 %.
    let check = Command::new(env!("CARGO_BIN_EXE_clawgate"))
        .args(["--check-config", "--config", conf.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    let json_end = text.find("\nworst-case").unwrap();
    let v: serde_json::Value = serde_json::from_str(&text[..json_end]).unwrap();
    let total = v["worstCaseMemory"]["totalBytes"].as_u64().unwrap();
    let children = v["worstCaseMemory"]["childrenBytes"].as_u64().unwrap();
    let mem_max = format!(
        "MemoryMax={}M",
        total * 5 / 4 / 1_048_576 + 1 + children / 1_048_576
    );
    assert!(limits.contains(&mem_max), "{limits} (expected {mem_max})");
    assert!(limits.contains("TasksMax="), "{limits}");
    assert!(
        limits.contains("ReadWritePaths=/var/lib/clawgate"),
        "{limits}"
    );

    // Second run: the operator's config and the token survive.
    std::fs::write(
        &conf,
        r#"{"server":{"dataDir":"/var/lib/clawgate"},"connections":{"maxConnections":10}}"#,
    )
    .unwrap();
    std::fs::write(root.join("var/lib/clawgate/token"), "keep-me\n").unwrap();
    let (ok, out) = install(&root, &src);
    assert!(ok, "{out}");
    assert!(out.contains("keeping existing"), "{out}");
    assert!(std::fs::read_to_string(&conf)
        .unwrap()
        .contains("\"maxConnections\":10"));
    assert_eq!(
        std::fs::read_to_string(root.join("var/lib/clawgate/token")).unwrap(),
        "keep-me\n"
    );
    assert!(
        root.join("opt/clawgate/clawgate.prev").exists(),
        "previous binary kept for rollback"
    );
    let limits =
        std::fs::read_to_string(root.join("etc/systemd/system/clawgate.service.d/limits.conf"))
            .unwrap();
    assert!(
        !limits.contains("MemoryMax=321M"),
        "limits follow the new config: {limits}"
    );

    // A config the new binary refuses: nothing is switched.
    std::fs::write(&conf, r#"{"connections":{"maxConnections":"many"}}"#).unwrap();
    let before = std::fs::read(root.join("opt/clawgate/clawgate")).unwrap();
    let (ok, out) = install(&root, &src);
    assert!(!ok);
    assert!(out.contains("connections.maxConnections"), "{out}");
    assert!(!root.join("opt/clawgate/clawgate.new").exists());
    assert_eq!(
        std::fs::read(root.join("opt/clawgate/clawgate")).unwrap(),
        before
    );
}

#[test]
fn deploy_over_ssh_to_localhost_when_available() {
    let ssh_ok = Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=3",
            "-o",
            "StrictHostKeyChecking=no",
            "localhost",
            "true",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ssh_ok {
        eprintln!("SKIPPED: no sshd answering on localhost with key auth; the ssh path of `make deploy` is not exercised here");
        return;
    }
    let out = Command::new("make")
        .current_dir(REPO)
        .args(["-n", "deploy", "PI=localhost"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
