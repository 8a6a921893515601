//! Containment by cgroup v2, when the gateway has a delegated subtree
//! (systemd `Delegate=yes`, or `exec.cgroup` naming a directory it may
//! write): every run gets its own cgroup `run-<seq>`, the child joins it
//! between fork and exec (so nothing it starts is ever outside), and the
//! run's end, `process.kill` and shutdown write `cgroup.kill`, which the
//! kernel applies to every process in it — `setsid`, double forks and
//! `nohup … &` included. `pids.max` and `memory.max` are set per run when
//! those controllers are enabled for the subtree.
//!
//! Without delegation this is off and the subreaper + marker sweep in
//! `spawn.rs` contain runs instead.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

/// Where runs' cgroups are made, and their limits.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Parent of the `run-<seq>` cgroups.
    pub runs: PathBuf,
    pids_max: u64,
    memory_max: u64,
}

fn write(path: &Path, text: &str) -> io::Result<()> {
    std::fs::write(path, text)
}

/// The cgroup v2 directory this process is in, on a pure v2 system.
fn own_cgroup() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let root = Path::new("/sys/fs/cgroup");
    root.join("cgroup.controllers")
        .exists()
        .then(|| root.join(rel.trim_start_matches('/')))
}

impl Tree {
    /// `setting`: `"off"`, `"auto"` (the systemd-delegated cgroup this
    /// process runs in, when it may write there) or a directory in a
    /// cgroup v2 hierarchy. `Ok(None)` when off or not delegated.
    pub fn setup(setting: &str, pids_max: u64, memory_max: u64) -> io::Result<Option<Tree>> {
        let runs = match setting {
            "off" => return Ok(None),
            "auto" => {
                let Some(own) = own_cgroup() else {
                    return Ok(None);
                };
                // Delegated means we may create cgroups beside us. Processes
                // may not sit in a cgroup whose controllers are enabled for
                // children, so the gateway moves into a leaf of its own.
                let probe = own.join("gateway");
                if std::fs::create_dir_all(&probe).is_err()
                    || write(&probe.join("cgroup.procs"), "0").is_err()
                {
                    return Ok(None);
                }
                let _ = write(&own.join("cgroup.subtree_control"), "+pids +memory");
                let runs = own.join("runs");
                std::fs::create_dir_all(&runs)?;
                runs
            }
            dir => {
                let runs = PathBuf::from(dir);
                std::fs::create_dir_all(&runs)?;
                if !runs.join("cgroup.procs").exists() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{dir} is not in a cgroup v2 hierarchy (no cgroup.procs)"),
                    ));
                }
                runs
            }
        };
        // Best effort: the controllers the parent offers, for the limits.
        let _ = write(&runs.join("cgroup.subtree_control"), "+pids +memory");
        // One directory per gateway process: several may share a subtree
        // (tests, a restart while the old one drains).
        let runs = runs.join(format!("gw-{}", std::process::id()));
        std::fs::create_dir_all(&runs)?;
        let _ = write(&runs.join("cgroup.subtree_control"), "+pids +memory");
        Ok(Some(Tree {
            runs,
            pids_max,
            memory_max,
        }))
    }

    fn dir(&self, seq: u64) -> PathBuf {
        self.runs.join(format!("run-{seq}"))
    }

    /// Makes run `seq`'s cgroup with its limits; the path of its
    /// `cgroup.procs`, for the child to join before exec.
    pub fn create_run(&self, seq: u64) -> io::Result<CString> {
        let dir = self.dir(seq);
        std::fs::create_dir(&dir)?;
        if self.pids_max > 0 && dir.join("pids.max").exists() {
            write(&dir.join("pids.max"), &self.pids_max.to_string())?;
        }
        if self.memory_max > 0 && dir.join("memory.max").exists() {
            write(&dir.join("memory.max"), &self.memory_max.to_string())?;
        }
        CString::new(
            dir.join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .map_err(|_| io::ErrorKind::InvalidInput.into())
    }

    /// Processes now in run `seq`'s cgroup.
    pub fn count(&self, seq: u64) -> usize {
        count_in(&self.dir(seq))
    }

    /// Kills everything in run `seq`'s cgroup and removes it once empty
    /// (waits at most `wait_ms`). How many processes were in it.
    pub fn kill_and_remove(&self, seq: u64, wait_ms: u64) -> usize {
        kill_and_remove(&self.dir(seq), wait_ms)
    }

    /// Shutdown: every run's cgroup, then this gateway's directory.
    pub fn kill_all(&self, wait_ms: u64) -> usize {
        let Ok(dir) = std::fs::read_dir(&self.runs) else {
            return 0;
        };
        let n = dir
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("run-"))
            .map(|e| kill_and_remove(&e.path(), wait_ms))
            .sum();
        let _ = std::fs::remove_dir(&self.runs);
        n
    }
}

fn count_in(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter(|l| !l.is_empty()).count())
        .unwrap_or(0)
}

fn kill_and_remove(dir: &Path, wait_ms: u64) -> usize {
    let n = count_in(dir);
    if n > 0 && write(&dir.join("cgroup.kill"), "1").is_err() {
        // Kernels before 5.14 have no cgroup.kill: signal each member.
        if let Ok(t) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in t.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: kill with a pid read from the run's own cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    // A killed process leaves its cgroup once it has exited; the directory
    // can go when nothing is left.
    for _ in 0..wait_ms.div_ceil(5).max(1) {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    n
}

/// Between fork and exec: the child writes itself ("0") into its run's
/// `cgroup.procs`. Only async-signal-safe calls; an error fails the spawn.
///
/// # Safety
/// Call only in a `pre_exec` hook.
pub unsafe fn join(procs: &CString) -> io::Result<()> {
    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = libc::write(fd, b"0".as_ptr().cast(), 1);
    let err = io::Error::last_os_error();
    libc::close(fd);
    if n == 1 {
        Ok(())
    } else {
        Err(err)
    }
}
