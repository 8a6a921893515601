//! Starting a child and the few syscalls around it. The child gets its own
//! process group (so a kill reaches its grandchildren), an environment built
//! from an allowlist (the gateway's token is never in it), every inherited
//! descriptor above stderr marked close-on-exec, and stdin from a pipe or
//! /dev/null.

use std::fmt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command, Stdio};

/// Variables a request may never set: they change what code loads or
/// which hooks run before or inside the command (loader preloads, shell
/// start-up files, interpreter options and module paths, git's config
/// injection `GIT_CONFIG_COUNT/KEY/VALUE` and hooks, pagers and editors
/// programs spawn, where dotfiles are read from, the PATH that decides
/// which binary a name is). The coach never sees these take effect, so
/// they are refused by family, not by a list of known abuses.
const FORBIDDEN_ENV_PREFIXES: &[&str] = &[
    "LD_",
    "DYLD_",
    "BASH_FUNC_",
    "GIT_",
    "PYTHON",
    "PERL",
    "RUBY",
    "NODE_",
    "NPM_CONFIG_",
    "JAVA_",
    "_JAVA_",
    "JDK_",
    "LUA_",
    "PHP",
    "GCONV",
    "OPENSSL_",
    "LESS",
    "SSH_",
    "SUDO_",
    "GEM_",
    "BUNDLE_",
    "RUSTC",
    "CARGO_",
    "XDG_",
    "NIX_",
    "DOTNET_",
    "COMPlus_",
    "TCL",
    "TK_",
];
const FORBIDDEN_ENV: &[&str] = &[
    "BASH_ENV",
    "ENV",
    "IFS",
    "PS4",
    "PROMPT_COMMAND",
    "SHELLOPTS",
    "BASHOPTS",
    "CDPATH",
    "GLOBIGNORE",
    "PATH",
    "HOME",
    "ZDOTDIR",
    "INPUTRC",
    "PAGER",
    "MANPAGER",
    "EDITOR",
    "VISUAL",
    "BROWSER",
    "TERMINFO",
    "CLASSPATH",
    "HISTFILE",
    "MAIL",
    "MAILPATH",
    "TMPDIR",
    "SHELL",
    "EXINIT",
    "VIMINIT",
    "MYVIMRC",
    "WGETRC",
    "CURL_HOME",
    "NETRC",
    "KUBECONFIG",
    "DOCKER_HOST",
    "AWS_CONFIG_FILE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "CLAWGATE_TOKEN",
    "OPENCLAW_GATEWAY_TOKEN",
    RUN_MARKER,
];

/// Every run's child gets `CLAWGATE_RUN=<gateway pid>.<run>` in its
/// environment. Descendants inherit it, whatever they do to their process
/// group or session (`setsid`, double forks, `nohup ... &`), so the sweep
/// after a run finds what the run left behind. A request may not set it.
pub const RUN_MARKER: &str = "CLAWGATE_RUN";

/// The marker value of run `seq` of this gateway.
pub fn run_marker(seq: u64) -> String {
    format!("{}.{seq}", std::process::id())
}

/// Makes the gateway the child subreaper of its descendants: an orphan
/// (a double fork, a `setsid` escapee whose parent exited) is re-parented
/// to the gateway instead of init, so it stays ours to reap and to find.
pub fn become_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl with an integer option and argument.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Reaps children that are not runs (orphans adopted as subreaper) without
/// touching a run's exit status: peeks with `WNOWAIT` and stops at the
/// first child `is_run` claims. Returns how many were reaped.
pub fn reap_orphans(is_run: impl Fn(i32) -> bool, max: usize) -> usize {
    let mut n = 0;
    while n < max {
        // SAFETY: siginfo_t is plain data; waitid fills it or leaves si_pid 0.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own children, without reaping (WNOWAIT).
        let r = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is valid for a CLD_* siginfo, zero when none waits.
        let pid = unsafe { info.si_pid() };
        if r != 0 || pid <= 0 || is_run(pid) {
            break;
        }
        let mut status = 0;
        // SAFETY: reaping that exact zombie child.
        unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        n += 1;
    }
    n
}

/// SIGKILLs every process whose environment carries a run marker: exactly
/// `marker` (one run), or any marker of this gateway when `marker` ends in
/// '.' (shutdown). Reads each /proc/<pid>/environ, so a worker runs it
/// after a run ends. Returns how many were killed.
pub fn sweep(marker: &str) -> usize {
    let needle = format!("{RUN_MARKER}={marker}");
    let prefix = marker.ends_with('.');
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    // Children of ours (adopted orphans included: we are their subreaper)
    // whose environment read empty or failed: a process in the middle of
    // an exec (`nohup` becoming `sleep`) has no environment to show for a
    // moment. They are read again, a few times, a few ms apart.
    let mut unsure: Vec<u32> = Vec::new();
    let marked = |env: &[u8]| {
        env.split(|b| *b == 0)
            .any(|kv| kv.starts_with(needle.as_bytes()) && (prefix || kv.len() == needle.len()))
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        match std::fs::read(format!("/proc/{pid}/environ")) {
            Ok(env) if !env.is_empty() => {
                // SAFETY: kill with a pid we just read and a constant signal.
                if marked(&env) && unsafe { libc::kill(pid as i32, libc::SIGKILL) } == 0 {
                    killed += 1;
                }
            }
            _ => {
                if unsure.len() < SWEEP_MAX_UNSURE && parent_of(pid) == Some(me) {
                    unsure.push(pid);
                }
            }
        }
    }
    for _ in 0..SWEEP_RETRIES {
        if unsure.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(SWEEP_RETRY_MS));
        unsure.retain(|&pid| match std::fs::read(format!("/proc/{pid}/environ")) {
            Ok(env) if !env.is_empty() => {
                // SAFETY: as above.
                if marked(&env) && unsafe { libc::kill(pid as i32, libc::SIGKILL) } == 0 {
                    killed += 1;
                }
                false
            }
            // Gone, or still unreadable: looked at again next round.
            _ => std::path::Path::new(&format!("/proc/{pid}")).exists(),
        });
    }
    killed
}

/// How many times, and how far apart, `sweep` looks again at children
/// whose environment could not be read (at most `SWEEP_MAX_UNSURE` of
/// them): long enough for an exec to finish, short on a worker thread.
const SWEEP_RETRIES: usize = 5;
const SWEEP_RETRY_MS: u64 = 5;
const SWEEP_MAX_UNSURE: usize = 64;

/// The parent pid from /proc/<pid>/stat (the field after the command
/// name, which may itself hold spaces or parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Why a variable name in a request's `env` is refused, if it is.
pub fn env_key_problem(key: &str) -> Option<&'static str> {
    let valid = !key.is_empty()
        && key.len() <= 128
        && !key.as_bytes()[0].is_ascii_digit()
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Some("is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128)");
    }
    let up = key.to_ascii_uppercase();
    if FORBIDDEN_ENV.iter().any(|f| f.eq_ignore_ascii_case(&up))
        || FORBIDDEN_ENV_PREFIXES
            .iter()
            .any(|p| up.starts_with(&p.to_ascii_uppercase()))
    {
        return Some("may not be set by a request: it changes which code loads or runs (loader, shell start-up, interpreter, git, pager, editor, PATH or HOME)");
    }
    None
}

/// Names taken from the gateway's own environment even though a request
/// may not set them (the gateway's HOME and locale are the child's).
const INHERITED_ONLY: &[&str] = &["HOME", "TMPDIR", "SHELL"];

/// The child's environment, built from an allowlist: the pass-through
/// names taken from ours (minus any value that holds a secret), `PATH`
/// reset to `safe_path` whatever the gateway's was, then the request's
/// additions (already checked by [`env_key_problem`]).
pub fn child_env(
    passthrough: &[String],
    safe_path: &str,
    ours: impl Iterator<Item = (String, String)>,
    secrets: &[&str],
    additions: &[(String, String)],
) -> Vec<(String, String)> {
    let leaks = |v: &str| secrets.iter().any(|s| !s.is_empty() && v.contains(s));
    let mut env: Vec<(String, String)> = ours
        .filter(|(k, v)| passthrough.iter().any(|p| p == k) && !leaks(v))
        .filter(|(k, _)| env_key_problem(k).is_none() || INHERITED_ONLY.contains(&k.as_str()))
        .collect();
    env.push(("PATH".into(), safe_path.to_string()));
    for (k, v) in additions {
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

/// Written to a child's /proc/self/oom_score_adj (raising it needs no privilege).
const CHILD_OOM_SCORE_ADJ: &[u8] = b"500";

/// What to start.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// argv[0] is looked up in the child's PATH.
    pub argv: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub stdin_pipe: bool,
    /// RLIMIT_NPROC for the child (0: leave as is). Not enforced for root.
    pub max_user_processes: u64,
    /// The run's cgroup (`cgroup.procs` path) the child joins before exec,
    /// when the gateway has a delegated cgroup v2 subtree.
    pub cgroup_procs: Option<std::ffi::CString>,
}

pub struct Spawned {
    pub pid: i32,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
    pub stdin: Option<ChildStdin>,
}

#[derive(Debug)]
pub enum SpawnError {
    Empty,
    CwdMissing(PathBuf),
    CwdNotDir(PathBuf),
    NotFound(String),
    Denied(String),
    Io(String, std::io::Error),
}

impl SpawnError {
    /// The `details.code` clients see.
    pub fn code(&self) -> &'static str {
        match self {
            SpawnError::Empty => "EMPTY_COMMAND",
            SpawnError::CwdMissing(_) | SpawnError::CwdNotDir(_) => "BAD_CWD",
            SpawnError::NotFound(_) => "COMMAND_NOT_FOUND",
            SpawnError::Denied(_) => "PERMISSION_DENIED",
            SpawnError::Io(..) => "SPAWN_FAILED",
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Empty => write!(f, "the command is empty"),
            SpawnError::CwdMissing(p) => write!(f, "cwd `{}` does not exist", p.display()),
            SpawnError::CwdNotDir(p) => write!(f, "cwd `{}` is not a directory", p.display()),
            SpawnError::NotFound(p) => write!(f, "`{p}`: no such command (not found in PATH)"),
            SpawnError::Denied(p) => write!(f, "`{p}`: permission denied"),
            SpawnError::Io(p, e) => write!(f, "`{p}` could not be started: {e}"),
        }
    }
}

/// Checks a cwd before anyone is asked to approve a command that cannot run.
pub fn check_cwd(cwd: &Path) -> Result<(), SpawnError> {
    match std::fs::metadata(cwd) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(SpawnError::CwdNotDir(cwd.to_path_buf())),
        Err(_) => Err(SpawnError::CwdMissing(cwd.to_path_buf())),
    }
}

/// The umask the gateway was started with (children get it back), once
/// [`private_umask`] has run; `u32::MAX` before.
static INHERITED_UMASK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(u32::MAX);

/// Makes everything the gateway creates private (0600 files, 0700 dirs:
/// the database holds transcripts and the audit trail, the log holds
/// commands) whatever the shell's umask; children get the original back.
pub fn private_umask() {
    // SAFETY: umask only swaps the process's file-mode mask.
    let old = unsafe { libc::umask(0o077) };
    INHERITED_UMASK.store(old as u32, std::sync::atomic::Ordering::Relaxed);
}

pub fn spawn(spec: &SpawnSpec) -> Result<Spawned, SpawnError> {
    let Some(prog) = spec.argv.first().filter(|p| !p.is_empty()) else {
        return Err(SpawnError::Empty);
    };
    if let Some(cwd) = &spec.cwd {
        check_cwd(cwd)?;
    }
    let mut cmd = Command::new(prog);
    cmd.args(&spec.argv[1..])
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if spec.stdin_pipe {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        // Its own group: process.kill and shutdown reach every descendant.
        .process_group(0);
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    let nproc = spec.max_user_processes;
    let cgroup = spec.cgroup_procs.clone();
    let umask = INHERITED_UMASK.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: only async-signal-safe syscalls run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if umask != u32::MAX {
                libc::umask(umask as libc::mode_t);
            }
            // Everything we open is close-on-exec already; this covers a
            // descriptor some library opened without it. CLOEXEC rather
            // than close, so std's exec-error pipe still reports failures.
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                4u32, /* CLOSE_RANGE_CLOEXEC */
            );
            // Under memory pressure the kernel should pick a child, not
            // the gateway (children share its cgroup under systemd).
            let fd = libc::open(
                c"/proc/self/oom_score_adj".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            );
            if fd >= 0 {
                libc::write(
                    fd,
                    CHILD_OOM_SCORE_ADJ.as_ptr().cast(),
                    CHILD_OOM_SCORE_ADJ.len(),
                );
                libc::close(fd);
            }
            // Into the run's cgroup first: nothing it starts is ever
            // outside it. A failure fails the spawn (fail closed).
            if let Some(c) = &cgroup {
                super::cgroup::join(c)?;
            }
            if nproc > 0 {
                let lim = libc::rlimit {
                    rlim_cur: nproc as libc::rlim_t,
                    rlim_max: nproc as libc::rlim_t,
                };
                libc::setrlimit(libc::RLIMIT_NPROC, &lim);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SpawnError::NotFound(prog.clone()),
        std::io::ErrorKind::PermissionDenied => SpawnError::Denied(prog.clone()),
        _ => SpawnError::Io(prog.clone(), e),
    })?;
    let pid = child.id() as i32;
    // `Child` is dropped without waiting: the loop reaps by pid on SIGCHLD.
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let stdin = child.stdin.take();
    set_nonblocking(stdout.as_raw_fd());
    set_nonblocking(stderr.as_raw_fd());
    if let Some(s) = &stdin {
        set_nonblocking(s.as_raw_fd());
    }
    Ok(Spawned {
        pid,
        stdout,
        stderr,
        stdin,
    })
}

fn set_nonblocking(fd: i32) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Signals a whole process group.
pub fn kill_group(pgid: i32, sig: i32) -> std::io::Result<()> {
    // SAFETY: plain syscall; a negative pid would address another group.
    if pgid <= 1 {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    if unsafe { libc::killpg(pgid, sig) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Live (not zombie) processes per process group, for the given groups,
/// read from /proc.
pub fn count_groups(pgids: &[i32]) -> Vec<(i32, usize)> {
    let mut counts: Vec<(i32, usize)> = pgids.iter().map(|&g| (g, 0)).collect();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return counts;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue; // gone meanwhile
        };
        // Fields after the command name (which may hold spaces and parens).
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("");
        let pgrp: i32 = f.nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
        if state == "Z" {
            continue;
        }
        if let Some(c) = counts.iter_mut().find(|(g, _)| *g == pgrp) {
            c.1 += 1;
        }
    }
    counts
}

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

/// Reaps `pid` if it has exited (never blocks).
pub fn try_reap(pid: i32) -> Option<ExitInfo> {
    let mut status = 0;
    // SAFETY: waitpid with WNOHANG on our own child.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if r == pid {
        Some(decode_status(status))
    } else if r < 0 {
        // ECHILD: already reaped elsewhere; report an unknown end rather than hang.
        Some(ExitInfo {
            code: None,
            signal: None,
        })
    } else {
        None
    }
}

fn decode_status(status: i32) -> ExitInfo {
    if libc::WIFEXITED(status) {
        ExitInfo {
            code: Some(libc::WEXITSTATUS(status)),
            signal: None,
        }
    } else if libc::WIFSIGNALED(status) {
        ExitInfo {
            code: None,
            signal: Some(libc::WTERMSIG(status)),
        }
    } else {
        ExitInfo {
            code: None,
            signal: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_env_is_allowlisted_and_secret_free() {
        let ours = vec![
            ("PATH".to_string(), "/usr/bin".to_string()),
            ("HOME".to_string(), "/root".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "x".to_string()),
            ("LANG".to_string(), "tok-123".to_string()),
        ];
        let pass: Vec<String> = ["PATH", "HOME", "LANG"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // The request's FOO is added; PATH is the safe one whatever ours is;
        // HOME is ours (a request may not move it); LANG held the secret.
        let env = child_env(
            &pass,
            "/usr/bin:/bin",
            ours.into_iter(),
            &["tok-123"],
            &[("FOO".into(), "1".into())],
        );
        assert_eq!(
            env,
            vec![
                ("HOME".to_string(), "/root".to_string()),
                ("PATH".to_string(), "/usr/bin:/bin".to_string()),
                ("FOO".to_string(), "1".to_string()),
            ]
        );
    }

    #[test]
    fn test_env_keys() {
        assert!(env_key_problem("FOO_1").is_none());
        assert!(env_key_problem("LD_PRELOAD").is_some());
        assert!(env_key_problem("bash_env").is_some());
        assert!(env_key_problem("1X").is_some());
        // Families, not a list: git's config injection, interpreters'
        // options, pagers and editors, where code and dotfiles come from.
        for k in [
            "GIT_CONFIG_COUNT",
            "GIT_CONFIG_KEY_0",
            "GIT_CONFIG_VALUE_0",
            "GIT_EXTERNAL_DIFF",
            "PYTHONWARNINGS",
            "PERL5DB",
            "RUBYLIB",
            "NODE_PATH",
            "GCONV_PATH",
            "PAGER",
            "EDITOR",
            "PATH",
            "HOME",
            "XDG_CONFIG_HOME",
            "npm_config_script_shell",
            "JAVA_TOOL_OPTIONS",
            "LESSOPEN",
            "https_proxy",
            "ld_preload",
        ] {
            assert!(env_key_problem(k).is_some(), "{k}");
        }
        assert!(env_key_problem("CI").is_none());
        assert!(env_key_problem("MY_APP_MODE").is_none());
        assert!(env_key_problem("A-B").is_some());
        assert!(env_key_problem("").is_some());
    }

    #[test]
    fn test_count_groups_sees_our_own_group() {
        // SAFETY: getpgrp has no preconditions.
        let ours = unsafe { libc::getpgrp() };
        let counts = count_groups(&[ours, 999_999_999]);
        assert!(counts[0].1 >= 1, "{counts:?}");
        assert_eq!(counts[1], (999_999_999, 0));
    }

    #[test]
    fn test_spawn_errors_are_precise() {
        let spec = |argv: &[&str], cwd: Option<&str>| SpawnSpec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: cwd.map(PathBuf::from),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            stdin_pipe: false,
            max_user_processes: 0,
            cgroup_procs: None,
        };
        assert!(matches!(spawn(&spec(&[], None)), Err(SpawnError::Empty)));
        assert!(matches!(
            spawn(&spec(&["clawgate-no-such-binary-xyz"], None)),
            Err(SpawnError::NotFound(_))
        ));
        assert!(matches!(
            spawn(&spec(&["true"], Some("/nonexistent/dir/xyz"))),
            Err(SpawnError::CwdMissing(_))
        ));
        assert!(matches!(
            spawn(&spec(&["true"], Some("/etc/hostname"))),
            Err(SpawnError::CwdNotDir(_))
        ));
        let s = spawn(&spec(&["true"], None)).unwrap();
        // Reap it (blocking wait is fine in a unit test).
        let mut status = 0;
        unsafe { libc::waitpid(s.pid, &mut status, 0) };
        assert_eq!(decode_status(status).code, Some(0));
    }
}
