//! pi/install.sh against a directory root (`--root DIR --no-systemctl`):
//! file layout, modes, limits derived from the config, idempotence, the
//! refusal of a binary that rejects the installed config; and `make deploy`
//! end to end over ssh to an sshd the test starts on loopback.

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

/// An sshd of the test's own on 127.0.0.1: its own host key, one
/// authorized client key, no PAM, killed on drop.
struct Sshd {
    child: std::process::Child,
    port: u16,
    key: std::path::PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    /// None when openssh-server is missing and skipping is allowed.
    fn start(dir: &Path) -> Option<Sshd> {
        let sshd = Path::new("/usr/sbin/sshd");
        if !common::require_client(
            "sshd (openssh-server)",
            sshd.exists(),
            "apt-get install openssh-server (make clients does)",
        ) {
            return None;
        }
        let keygen = |path: &Path| {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path)
                .status()
                .expect("ssh-keygen");
            assert!(st.success());
        };
        let host_key = dir.join("host_ed25519");
        let key = dir.join("client_ed25519");
        keygen(&host_key);
        keygen(&key);
        let auth = dir.join("authorized_keys");
        std::fs::copy(dir.join("client_ed25519.pub"), &auth).unwrap();
        // sshd refuses to start without its privilege-separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        // A free port: bind 0, note it, release it for sshd.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1:{port}\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PidFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 Subsystem sftp internal-sftp\n",
                host_key.display(),
                auth.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start sshd");
        let t0 = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < common::WAIT, "sshd did not listen");
            std::thread::sleep(std::time::Duration::from_millis(20)); // polling interval
        }
        Some(Sshd { child, port, key })
    }

    fn opts(&self) -> String {
        format!(
            "-o Port={} -o IdentityFile={} -o IdentitiesOnly=yes -o BatchMode=yes \
             -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            self.port,
            self.key.display()
        )
    }
}

/// `make deploy` over a real ssh connection to an sshd the test starts on
/// loopback: the binary, unit and config are copied with scp and
/// install.sh runs remotely (into a directory root, without systemctl).
/// Then an upgrade with a binary that refuses the installed config is
/// refused and leaves the installed binary in place.
#[test]
fn deploy_over_ssh_to_a_loopback_sshd() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(sshd) = Sshd::start(tmp.path()) else {
        return;
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let root = tmp.path().join("pi-root");
    let remote = tmp.path().join("upload");
    let deploy = |bin: &str| {
        Command::new("make")
            .current_dir(REPO)
            .arg("deploy")
            .arg(format!("PI={user}@127.0.0.1"))
            .arg(format!("SSH_OPTS={}", sshd.opts()))
            .arg(format!("DEPLOY_BIN={bin}"))
            .arg(format!("DEPLOY_TMP={}", remote.display()))
            .arg(format!(
                "INSTALL_FLAGS=--root {} --no-systemctl",
                root.display()
            ))
            .arg("SUDO=")
            .output()
            .expect("run make deploy")
    };
    let out = deploy(env!("CARGO_BIN_EXE_clawgate"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "make deploy failed:\n{text}");
    assert!(text.contains("installed example config"), "{text}");
    let installed = root.join("opt/clawgate/clawgate");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_clawgate")).unwrap(),
        "the deployed binary is the one built"
    );
    assert!(root.join("etc/systemd/system/clawgate.service").exists());
    assert!(root.join("etc/clawgate/clawgate.json").exists());

    // A "binary" that refuses every config: install.sh keeps the old one.
    let bad = tmp.path().join("bad-clawgate");
    std::fs::write(&bad, "#!/bin/sh\necho refusing >&2\nexit 2\n").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = deploy(bad.to_str().unwrap());
    assert!(
        !out.status.success(),
        "a refused upgrade must fail the deploy"
    );
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_clawgate")).unwrap(),
        "the refused binary did not replace the installed one"
    );
}
