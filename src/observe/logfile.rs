//! Buffered file logger: a `log` backend writing to `<dataDir>/clawgate.log`.
//!
//! Lines gather in memory and are written in one `write` when the buffer
//! holds `bufferLines` lines, when the loop's flush timer fires, at once for
//! an error, on `logs.tail`, and at shutdown. Size-based rotation keeps
//! `maxFiles` old files. stderr (journald) is written by simplelog beside it.
//! Logging may come from any thread (the worker pool later), hence the mutex;
//! the loop only ever holds it for a memcpy or one write.

use log::{LevelFilter, Log, Metadata, Record};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Log file name in the data dir.
pub const LOG_FILE: &str = "clawgate.log";

#[derive(Debug, Clone)]
pub struct LogFileOptions {
    pub max_file_bytes: u64,
    pub max_files: usize,
    pub buffer_lines: usize,
}

/// Counters of the file logger, rendered in `health`.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStats {
    pub lines: u64,
    pub writes: u64,
    pub bytes: u64,
    pub rotations: u64,
    pub buffer_high_water: u64,
    pub write_errors: u64,
}

struct Inner {
    file: Option<File>,
    size: u64,
    buf: Vec<u8>,
    buffered_lines: usize,
    stats: LogStats,
}

/// The shared sink: the `log` backend and the loop's handle to it.
pub struct LogFile {
    path: PathBuf,
    opts: LogFileOptions,
    level: LevelFilter,
    inner: Mutex<Inner>,
}

impl LogFile {
    pub fn open(
        dir: &Path,
        opts: LogFileOptions,
        level: LevelFilter,
    ) -> std::io::Result<Arc<LogFile>> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(Arc::new(LogFile {
            path,
            opts,
            level,
            inner: Mutex::new(Inner {
                file: Some(file),
                size,
                buf: Vec::new(),
                buffered_lines: 0,
                stats: LogStats::default(),
            }),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stats(&self) -> LogStats {
        self.inner
            .lock()
            .map(|i| i.stats.clone())
            .unwrap_or_default()
    }

    /// Appends one line; flushes when the buffer is full or for errors.
    pub fn push_line(&self, line: &str, urgent: bool) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.buf.extend_from_slice(line.as_bytes());
        inner.buf.push(b'\n');
        inner.buffered_lines += 1;
        inner.stats.lines += 1;
        let hw = inner.buf.len() as u64;
        inner.stats.buffer_high_water = inner.stats.buffer_high_water.max(hw);
        if urgent || inner.buffered_lines >= self.opts.buffer_lines {
            self.flush_locked(&mut inner);
        }
    }

    /// Writes the buffer (whole lines only), rotating first when it would
    /// pass the size limit.
    pub fn flush(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            self.flush_locked(&mut inner);
        }
    }

    fn flush_locked(&self, inner: &mut Inner) {
        if inner.buf.is_empty() {
            return;
        }
        if inner.size > 0 && inner.size + inner.buf.len() as u64 > self.opts.max_file_bytes {
            self.rotate(inner);
        }
        let Some(file) = inner.file.as_mut() else {
            return;
        };
        match file.write_all(&inner.buf) {
            Ok(()) => {
                inner.stats.writes += 1;
                inner.stats.bytes += inner.buf.len() as u64;
                inner.size += inner.buf.len() as u64;
            }
            Err(e) => {
                inner.stats.write_errors += 1;
                let _ = writeln!(
                    std::io::stderr(),
                    "clawgate: log file {}: {e}",
                    self.path.display()
                );
            }
        }
        inner.buf.clear();
        if inner.buf.capacity() > 64 * 1024 {
            inner.buf.shrink_to(16 * 1024);
        }
        inner.buffered_lines = 0;
    }

    /// clawgate.log → .1 → .2 … up to `maxFiles`; the oldest is dropped.
    fn rotate(&self, inner: &mut Inner) {
        inner.file = None;
        let name = |n: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        let _ = std::fs::remove_file(name(self.opts.max_files));
        for n in (1..self.opts.max_files).rev() {
            let _ = std::fs::rename(name(n), name(n + 1));
        }
        if self.opts.max_files > 0 {
            let _ = std::fs::rename(&self.path, name(1));
        } else {
            let _ = std::fs::remove_file(&self.path);
        }
        inner.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .ok();
        inner.size = 0;
        inner.stats.rotations += 1;
    }
}

/// The `log` backend half: simplelog's CombinedLogger takes it beside stderr.
pub struct FileBackend(pub Arc<LogFile>);

impl Log for FileBackend {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= self.0.level
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let ts = crate::gateway::wall_ms();
        let line = format!(
            "{}.{:03} [{}] {}",
            ts / 1000,
            ts % 1000,
            r.level(),
            r.args()
        );
        self.0.push_line(&line, r.level() == log::Level::Error);
    }

    fn flush(&self) {
        self.0.flush();
    }
}

impl simplelog::SharedLogger for FileBackend {
    fn level(&self) -> LevelFilter {
        self.0.level
    }

    fn config(&self) -> Option<&simplelog::Config> {
        None
    }

    fn as_log(self: Box<Self>) -> Box<dyn Log> {
        self
    }
}

/// One page of `logs.tail`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TailPage {
    pub file: String,
    pub cursor: u64,
    pub size: u64,
    pub lines: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
}

/// Reads complete lines of `path`. Without a cursor: the last `limit` lines
/// (within `max_bytes`). With one: the lines after it, at most `limit` and
/// `max_bytes`; the returned cursor points after the last complete line, so
/// a half-written last line is never returned and is read whole next time.
/// A cursor past the end (the file rotated) restarts from the beginning with
/// `reset: true`.
pub fn tail(
    path: &Path,
    cursor: Option<u64>,
    limit: usize,
    max_bytes: usize,
) -> std::io::Result<TailPage> {
    let mut f = File::open(path)?;
    let size = f.metadata()?.len();
    let mut reset = false;
    let start = match cursor {
        Some(c) if c <= size => c,
        Some(_) => {
            reset = true;
            0
        }
        None => size.saturating_sub(max_bytes as u64),
    };
    let want = (size - start).min(max_bytes as u64) as usize;
    let mut buf = vec![0u8; want];
    f.seek(SeekFrom::Start(start))?;
    f.read_exact(&mut buf)?;
    // Only whole lines: up to the last newline.
    let end = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut body = &buf[..end];
    // A tail read may start mid-line: drop the partial first line.
    if cursor.is_none() && start > 0 {
        let skip = body
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |i| i + 1);
        body = &body[skip..];
    }
    let text = String::from_utf8_lossy(body);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut next = start + end as u64;
    let mut truncated = start + (want as u64) < size;
    if lines.len() > limit {
        truncated = true;
        if cursor.is_none() {
            lines.drain(..lines.len() - limit);
        } else {
            // Stop after `limit` lines; the cursor follows them, counted in
            // the file's bytes: the lossy text is longer where bytes were
            // not UTF-8, and `lines()` drops a `\r` (found by fuzzing).
            let cut = body
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .nth(limit - 1)
                .map_or(body.len(), |(i, _)| i + 1);
            next = start + cut as u64;
            lines.truncate(limit);
        }
    }
    Ok(TailPage {
        file: path.display().to_string(),
        cursor: next,
        size,
        lines,
        truncated,
        reset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(max_file_bytes: u64) -> LogFileOptions {
        LogFileOptions {
            max_file_bytes,
            max_files: 2,
            buffer_lines: 100,
        }
    }

    #[test]
    fn test_cursor_counts_file_bytes_not_lossy_text() {
        // fuzz/logs_tail found it: invalid UTF-8 and CRs made the cursor
        // run past the end of the page (and of the file).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clawgate.log");
        std::fs::write(&path, b"\xff\xff\xff\xffa\r\nb\xfe\nc\nd\n").unwrap();
        let page = tail(&path, Some(0), 2, 1 << 20).unwrap();
        assert_eq!(page.lines.len(), 2);
        assert_eq!(page.cursor, 10, "after the second newline");
        let next = tail(&path, Some(page.cursor), 2, 1 << 20).unwrap();
        assert_eq!(next.lines, vec!["c", "d"]);
        assert_eq!(next.cursor, 14);
    }

    #[test]
    fn test_buffering_and_urgent_flush() {
        let dir = tempfile::tempdir().unwrap();
        let lf = LogFile::open(dir.path(), opts(1 << 20), LevelFilter::Info).unwrap();
        lf.push_line("one", false);
        assert_eq!(std::fs::read_to_string(lf.path()).unwrap(), "");
        lf.push_line("an error", true);
        assert_eq!(
            std::fs::read_to_string(lf.path()).unwrap(),
            "one\nan error\n"
        );
        let s = lf.stats();
        assert_eq!((s.lines, s.writes), (2, 1));
        for i in 0..100 {
            lf.push_line(&format!("l{i}"), false);
        }
        assert_eq!(lf.stats().writes, 2, "100 lines fill the buffer");
    }

    #[test]
    fn test_rotation_keeps_bounded_files() {
        let dir = tempfile::tempdir().unwrap();
        let lf = LogFile::open(dir.path(), opts(100), LevelFilter::Info).unwrap();
        for i in 0..50 {
            lf.push_line(&format!("line number {i:04}"), true);
        }
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}"); // current + 2 rotated
        assert!(std::fs::metadata(lf.path()).unwrap().len() <= 100);
        assert!(lf.stats().rotations > 0);
    }

    #[test]
    fn test_tail_cursor_never_returns_half_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.log");
        std::fs::write(&p, "a\nbb\nccc\npartial").unwrap();
        let page = tail(&p, Some(0), 500, 1 << 20).unwrap();
        assert_eq!(page.lines, ["a", "bb", "ccc"]);
        assert_eq!(page.cursor, 9);
        // The half line completes; the next read returns it whole.
        std::fs::write(&p, "a\nbb\nccc\npartial line\nnext\n").unwrap();
        let page = tail(&p, Some(page.cursor), 500, 1 << 20).unwrap();
        assert_eq!(page.lines, ["partial line", "next"]);
        // limit stops early and the cursor follows the returned lines.
        let page = tail(&p, Some(0), 2, 1 << 20).unwrap();
        assert_eq!(page.lines, ["a", "bb"]);
        assert!(page.truncated);
        assert_eq!(page.cursor, 5);
        // Without a cursor: the last lines.
        let page = tail(&p, None, 2, 1 << 20).unwrap();
        assert_eq!(page.lines, ["partial line", "next"]);
        // A cursor past the end (rotated file) resets.
        let page = tail(&p, Some(10_000), 500, 1 << 20).unwrap();
        assert!(page.reset);
        assert_eq!(page.lines.len(), 5);
        // maxBytes bounds the read; a tail starting mid-line drops that part.
        let page = tail(&p, None, 500, 8).unwrap();
        assert_eq!(page.lines, ["next"]);
    }
}
