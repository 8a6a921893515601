//! What a child printed, kept up to a byte cap. Offsets count every byte
//! the child ever wrote (both streams together), so a client that missed
//! events asks `process.poll` for "everything after offset N" and learns
//! exactly how much fell off the front.

use super::Stream;
use std::collections::VecDeque;

/// Adjacent reads of one stream merge into a chunk up to this size, so a
/// flood of small writes does not cost a header each.
pub const CHUNK_MERGE_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub struct Chunk {
    pub stream: Stream,
    pub offset: u64,
    pub data: Vec<u8>,
}

/// The retained tail of a process's output.
#[derive(Debug)]
pub struct OutputBuf {
    chunks: VecDeque<Chunk>,
    bytes: usize,
    cap: usize,
    end: u64,
    /// Some output was dropped from the front to stay under the cap.
    pub truncated: bool,
}

/// A slice of retained output for a reader.
pub struct Since<'a> {
    pub parts: Vec<(Stream, u64, &'a [u8])>,
    /// Bytes between the asked offset and the oldest byte still kept.
    pub missed: u64,
    /// Where the next read should start.
    pub next: u64,
}

impl OutputBuf {
    pub fn new(cap: usize) -> OutputBuf {
        OutputBuf {
            chunks: VecDeque::new(),
            bytes: 0,
            cap,
            end: 0,
            truncated: false,
        }
    }

    /// Total bytes ever written: the offset of the next byte.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Bytes held now (≤ cap).
    pub fn held(&self) -> usize {
        self.bytes
    }

    pub fn start(&self) -> u64 {
        self.end - self.bytes as u64
    }

    /// Appends `data`, returning its offset; drops the oldest bytes past the cap.
    pub fn push(&mut self, stream: Stream, data: &[u8]) -> u64 {
        let offset = self.end;
        self.end += data.len() as u64;
        // Only the last `cap` bytes can ever be kept.
        let keep = if data.len() > self.cap {
            self.truncated = true;
            &data[data.len() - self.cap..]
        } else {
            data
        };
        let keep_offset = self.end - keep.len() as u64;
        match self.chunks.back_mut() {
            Some(last)
                if last.stream == stream
                    && last.data.len() + keep.len() <= CHUNK_MERGE_BYTES
                    && last.offset + last.data.len() as u64 == keep_offset =>
            {
                last.data.extend_from_slice(keep)
            }
            _ => self.chunks.push_back(Chunk {
                stream,
                offset: keep_offset,
                data: keep.to_vec(),
            }),
        }
        self.bytes += keep.len();
        while self.bytes > self.cap {
            let over = self.bytes - self.cap;
            let front = self.chunks.front_mut().expect("bytes > 0 means a chunk");
            self.truncated = true;
            if front.data.len() <= over {
                self.bytes -= front.data.len();
                self.chunks.pop_front();
            } else {
                front.data.drain(..over);
                front.offset += over as u64;
                self.bytes -= over;
            }
        }
        offset
    }

    /// Everything kept from `offset` on, at most `max` bytes.
    pub fn since(&self, offset: u64, max: usize) -> Since<'_> {
        let start = self.start();
        let from = offset.max(start);
        let missed = start.saturating_sub(offset);
        let mut parts = Vec::new();
        let mut budget = max;
        let mut next = from;
        for c in &self.chunks {
            let c_end = c.offset + c.data.len() as u64;
            if c_end <= from || budget == 0 {
                continue;
            }
            let skip = from.saturating_sub(c.offset) as usize;
            let take = (c.data.len() - skip).min(budget);
            let slice = &c.data[skip..skip + take];
            parts.push((c.stream, c.offset + skip as u64, slice));
            budget -= take;
            next = c.offset + (skip + take) as u64;
        }
        if parts.is_empty() {
            // Caught up (or asked past the end): resume at the end.
            next = from.min(self.end);
        }
        Since {
            parts,
            missed,
            next,
        }
    }

    /// The kept output as one lossy string (both streams, in order).
    pub fn text(&self) -> String {
        let mut all = Vec::with_capacity(self.bytes);
        for c in &self.chunks {
            all.extend_from_slice(&c.data);
        }
        String::from_utf8_lossy(&all).into_owned()
    }
}

/// Splits a read into the part that is complete UTF-8 and an unfinished
/// multi-byte sequence at its end (≤ 3 bytes), which waits for the next
/// read so a character cut by the pipe is not turned into U+FFFD.
pub fn utf8_cut(data: &[u8]) -> usize {
    let n = data.len();
    for back in 1..=3.min(n) {
        let b = data[n - back];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte: keep looking for the lead
        }
        let need = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return n,
        };
        return if need > back { n - back } else { n };
    }
    n
}

pub use crate::encoding::base64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cap_drops_oldest_and_keeps_offsets() {
        let mut b = OutputBuf::new(10);
        assert_eq!(b.push(Stream::Stdout, b"hello "), 0);
        assert_eq!(b.push(Stream::Stderr, b"world!"), 6);
        assert_eq!(b.end(), 12);
        assert_eq!(b.held(), 10);
        assert!(b.truncated);
        assert_eq!(b.start(), 2);
        let s = b.since(0, 100);
        assert_eq!(s.missed, 2);
        assert_eq!(s.parts[0], (Stream::Stdout, 2, &b"llo "[..]));
        assert_eq!(s.parts[1], (Stream::Stderr, 6, &b"world!"[..]));
        assert_eq!(s.next, 12);
        // Resume from the middle of a chunk, with a byte budget.
        let s = b.since(8, 3);
        assert_eq!(s.missed, 0);
        assert_eq!(s.parts, vec![(Stream::Stderr, 8, &b"rld"[..])]);
        assert_eq!(s.next, 11);
        // Caught up: nothing, next stays at the end; past the end too.
        let s = b.since(12, 100);
        assert!(s.parts.is_empty());
        assert_eq!(s.next, 12);
        assert_eq!(b.since(500, 100).next, 12);
    }

    #[test]
    fn test_one_write_bigger_than_the_cap() {
        let mut b = OutputBuf::new(4);
        b.push(Stream::Stdout, b"abcdefgh");
        assert_eq!(b.text(), "efgh");
        assert_eq!(b.start(), 4);
        assert!(b.truncated);
    }

    #[test]
    fn test_same_stream_reads_merge() {
        let mut b = OutputBuf::new(1 << 20);
        for _ in 0..100 {
            b.push(Stream::Stdout, b"0123456789");
        }
        assert_eq!(b.chunks.len(), 1);
        b.push(Stream::Stderr, b"e");
        assert_eq!(b.chunks.len(), 2);
    }

    #[test]
    fn test_utf8_cut_holds_back_a_split_character() {
        let s = "aé€😀".as_bytes();
        assert_eq!(utf8_cut(s), s.len());
        for cut in 1..s.len() {
            let k = utf8_cut(&s[..cut]);
            assert!(std::str::from_utf8(&s[..k]).is_ok(), "cut {cut}");
            assert!(cut - k <= 3);
        }
        // Invalid bytes are not held back forever.
        assert_eq!(utf8_cut(&[0xff, 0xfe]), 2);
    }
}
