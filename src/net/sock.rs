//! The socket wrapper every connection reads and writes through: the one
//! place where `io::Error` is classified, and the connection's outbound queue.
//!
//! Outbound bytes are a queue of chunks written with `writev`: our text
//! frames (a 2–10 byte header plus the shared payload; short parts are
//! copied into one scratch run per call, long ones never are) and raw
//! bytes (the HTTP response head, and whatever tungstenite writes: pongs and
//! close frames). tungstenite writes through [`Sock`]'s `Write` impl, which
//! only appends to the queue, so its own write buffer never grows and its
//! frames keep their place in line with ours.

use super::tls::Session;
use bytes::Bytes;
use mio::net::TcpStream;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use tungstenite::Utf8Bytes;

/// Most slices gathered into one `writev` (a frame is up to three).
pub const MAX_IOVECS: usize = 128;
/// A drained queue whose capacity grew past this many chunks is shrunk, so a
/// burst does not pin memory on an idle connection.
const QUEUE_KEEP_CHUNKS: usize = 32;
/// Parts shorter than this (frame headers, event bodies, `seq` tails) are
/// copied into one run of the flush scratch instead of getting an iovec
/// each: the kernel's per-segment cost in `writev` outweighed the copy (a
/// chat broadcast was three segments of 2, ~180 and ~10 bytes per frame).
/// Longer parts still go out from their shared buffer, uncopied.
pub const COPY_BELOW: usize = 1024;
/// Size of the flush scratch: one per thread that flushes sockets (the
/// loop), so its memory does not grow with connections.
pub const SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One `writev` segment as planned: a range of the scratch, or a part
/// referenced where it lies.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Copied(usize, usize),
    Direct(&'a [u8]),
}

/// What an I/O error means to a connection. Decided once, here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoClass {
    /// Nothing more to do until the next readiness event.
    WouldBlock,
    /// A signal interrupted the call: retry at once.
    Interrupted,
    /// The peer went away: reset, aborted, broken pipe, EOF.
    Closed,
    /// Anything else: log and drop the connection.
    Fatal,
}

pub fn classify(e: &io::Error) -> IoClass {
    use io::ErrorKind::*;
    match e.kind() {
        WouldBlock => IoClass::WouldBlock,
        Interrupted => IoClass::Interrupted,
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected
        | WriteZero => IoClass::Closed,
        _ => IoClass::Fatal,
    }
}

/// Opcode byte (with FIN) of a final text frame.
pub const TEXT: u8 = 0x81;
/// Opcode byte (with FIN) of a final binary frame.
pub const BINARY: u8 = 0x82;

/// Header of an unmasked, final text frame of `len` payload bytes.
pub fn text_frame_header(len: usize) -> ([u8; 10], u8) {
    frame_header(TEXT, len)
}

/// Header of an unmasked, final frame with opcode byte `op` and `len` bytes.
pub fn frame_header(op: u8, len: usize) -> ([u8; 10], u8) {
    let mut h = [0u8; 10];
    h[0] = op;
    let n = if len < 126 {
        h[1] = len as u8;
        2
    } else if len <= u16::MAX as usize {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (h, n)
}

/// Most bytes a frame's per-connection tail holds (`,"seq":<u64>}`).
pub const TAIL_MAX: usize = 28;

/// A frame ready for the queue: a shared body plus a small per-connection
/// tail. An event broadcast to N clients shares one body (`{"type":"event",
/// ...,"payload":...`) and differs only in its tail (`,"seq":N}`), so a
/// recipient costs a refcount and a few bytes, no allocation.
#[derive(Debug, Clone)]
pub struct OutFrame {
    pub body: Bytes,
    tail: [u8; TAIL_MAX],
    tail_len: u8,
}

impl OutFrame {
    /// A whole text frame (a response).
    pub fn text(body: impl Into<Bytes>) -> OutFrame {
        OutFrame {
            body: body.into(),
            tail: [0; TAIL_MAX],
            tail_len: 0,
        }
    }

    /// A shared body and its tail (at most `TAIL_MAX` bytes).
    pub fn with_tail(body: Bytes, tail: &[u8]) -> OutFrame {
        let mut t = [0; TAIL_MAX];
        let n = tail.len().min(TAIL_MAX);
        t[..n].copy_from_slice(&tail[..n]);
        OutFrame {
            body,
            tail: t,
            tail_len: n as u8,
        }
    }

    pub fn tail(&self) -> &[u8] {
        &self.tail[..self.tail_len as usize]
    }

    /// Payload bytes on the wire (body + tail).
    pub fn len(&self) -> usize {
        self.body.len() + self.tail_len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

enum Chunk {
    Frame {
        head: [u8; 10],
        head_len: u8,
        frame: OutFrame,
    },
    Raw(Vec<u8>),
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Frame {
                head_len, frame, ..
            } => *head_len as usize + frame.len(),
            Chunk::Raw(v) => v.len(),
        }
    }

    /// The unwritten part, as up to three slices (header, body, tail).
    fn slices(&self, offset: usize) -> [&[u8]; 3] {
        match self {
            Chunk::Frame {
                head,
                head_len,
                frame,
            } => {
                let parts: [&[u8]; 3] =
                    [&head[..*head_len as usize], &frame.body[..], frame.tail()];
                let mut skip = offset;
                let mut out: [&[u8]; 3] = [&[], &[], &[]];
                let mut k = 0;
                for p in parts {
                    if skip >= p.len() {
                        skip -= p.len();
                        continue;
                    }
                    out[k] = &p[skip..];
                    skip = 0;
                    k += 1;
                }
                out
            }
            Chunk::Raw(v) => [&v[offset..], &[], &[]],
        }
    }
}

pub struct Sock {
    pub tcp: TcpStream,
    /// `wss://`: plaintext goes through rustls; `None` on a plain socket.
    tls: Option<Box<Session>>,
    /// The last read returned less than it asked for: the kernel's queue
    /// was empty then, and edge-triggered readiness will report whatever
    /// arrives next, so the next read answers `WouldBlock` without a system
    /// call (nginx's `rev->ready = 0`). Cleared by a readable event.
    drained: bool,
    queue: VecDeque<Chunk>,
    queued_bytes: usize,
    /// Bytes of the front chunk already written.
    front_written: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub frames_queued: u64,
    pub writes: u64,
}

impl Sock {
    pub fn new(tcp: TcpStream) -> Self {
        Sock {
            tcp,
            tls: None,
            drained: false,
            queue: VecDeque::new(),
            queued_bytes: 0,
            front_written: 0,
            bytes_in: 0,
            bytes_out: 0,
            frames_queued: 0,
            writes: 0,
        }
    }

    /// Makes this a TLS socket: from now on every byte goes through `session`.
    pub fn start_tls(&mut self, session: Box<Session>) {
        self.tls = Some(session);
    }

    /// A readable event arrived: the next read asks the kernel again.
    pub fn on_readable(&mut self) {
        self.drained = false;
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A TLS socket whose handshake completed (for the stats).
    pub fn tls_handshake_done(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.handshake_done())
    }

    /// Ends TLS with close_notify (best effort, before the socket closes).
    pub fn close_notify(&mut self) {
        if let Some(t) = self.tls.as_deref_mut() {
            if !t.is_handshaking() {
                t.close_notify();
                let _ = self.flush_queue();
            }
        }
    }

    /// Queues a text frame around a shared payload (no copy).
    pub fn push_frame(&mut self, payload: Utf8Bytes) {
        self.push_out(TEXT, OutFrame::text(Bytes::from(payload)));
    }

    /// Queues a data frame (`TEXT` or `BINARY`) around a shared payload.
    pub fn push_data(&mut self, op: u8, payload: Bytes) {
        self.push_out(op, OutFrame::text(payload));
    }

    /// Queues a frame (shared body + tail) with opcode byte `op`.
    pub fn push_out(&mut self, op: u8, frame: OutFrame) {
        let (head, head_len) = frame_header(op, frame.len());
        let chunk = Chunk::Frame {
            head,
            head_len,
            frame,
        };
        self.queued_bytes += chunk.len();
        self.frames_queued += 1;
        self.queue.push_back(chunk);
    }

    /// Queues raw bytes (HTTP response head, tungstenite's control frames).
    pub fn push_raw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.queued_bytes += bytes.len();
        self.queue.push_back(Chunk::Raw(bytes.to_vec()));
    }

    /// Output waiting: our queue, or TLS records (a handshake flight).
    pub fn has_pending(&self) -> bool {
        !self.queue.is_empty() || self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes - self.front_written
    }

    /// The queue's unwritten bytes as up to `MAX_IOVECS` slices.
    fn gather<'a>(
        queue: &'a VecDeque<Chunk>,
        front_written: usize,
        slices: &mut [IoSlice<'a>; MAX_IOVECS],
    ) -> usize {
        let mut n = 0;
        for (i, chunk) in queue.iter().enumerate() {
            if n + 3 > MAX_IOVECS {
                break;
            }
            for part in chunk.slices(if i == 0 { front_written } else { 0 }) {
                if !part.is_empty() {
                    slices[n] = IoSlice::new(part);
                    n += 1;
                }
            }
        }
        n
    }

    /// Plans one `writev` of the queue's unwritten bytes: runs of short
    /// parts copied into `scratch`, longer parts referenced in place; up to
    /// `MAX_IOVECS` segments and `scratch.len()` copied bytes.
    fn plan<'a>(
        queue: &'a VecDeque<Chunk>,
        front_written: usize,
        scratch: &mut [u8],
        plan: &mut [Seg<'a>; MAX_IOVECS],
    ) -> usize {
        let mut n = 0;
        let mut fill = 0;
        for (i, chunk) in queue.iter().enumerate() {
            for part in chunk.slices(if i == 0 { front_written } else { 0 }) {
                if part.is_empty() {
                    continue;
                }
                if part.len() < COPY_BELOW && fill + part.len() <= scratch.len() {
                    let end = fill + part.len();
                    match plan[..n].last_mut() {
                        // The run before this part is still open: extend it.
                        Some(Seg::Copied(_, run_end)) if *run_end == fill => *run_end = end,
                        _ if n < MAX_IOVECS => {
                            plan[n] = Seg::Copied(fill, end);
                            n += 1;
                        }
                        _ => return n,
                    }
                    scratch[fill..end].copy_from_slice(part);
                    fill = end;
                } else if part.len() >= COPY_BELOW && n < MAX_IOVECS {
                    plan[n] = Seg::Direct(part);
                    n += 1;
                } else {
                    // Scratch or segments used up: the rest goes next round.
                    return n;
                }
            }
        }
        n
    }

    /// Writes the queue with `writev` until it is empty (`Ok(())`) or the
    /// socket is full (`Err(WouldBlock)`).
    pub fn flush_queue(&mut self) -> io::Result<()> {
        if self.tls.is_some() {
            return self.flush_tls();
        }
        while !self.queue.is_empty() {
            let written = SCRATCH.with_borrow_mut(|scratch| {
                if scratch.len() < SCRATCH_BYTES {
                    scratch.resize(SCRATCH_BYTES, 0);
                }
                let mut plan = [Seg::Direct(&[]); MAX_IOVECS];
                let n = Self::plan(&self.queue, self.front_written, scratch, &mut plan);
                let mut slices: [IoSlice<'_>; MAX_IOVECS] = [IoSlice::new(&[]); MAX_IOVECS];
                for (slot, seg) in slices.iter_mut().zip(&plan[..n]) {
                    *slot = IoSlice::new(match *seg {
                        Seg::Copied(a, b) => &scratch[a..b],
                        Seg::Direct(p) => p,
                    });
                }
                (&self.tcp).write_vectored(&slices[..n])
            });
            let written = match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => w,
                Err(e) if classify(&e) == IoClass::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.writes += 1;
            self.bytes_out += written as u64;
            self.advance(written);
        }
        self.shrink();
        Ok(())
    }

    /// The TLS flush: records out first, then the queue's plaintext into
    /// rustls (up to its send limit), and round again. Counters count wire
    /// bytes.
    fn flush_tls(&mut self) -> io::Result<()> {
        loop {
            let tls = self.tls.as_deref_mut().expect("a TLS socket");
            while tls.wants_write() {
                match tls.write_tls(&mut self.tcp) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(w) => {
                        self.writes += 1;
                        self.bytes_out += w as u64;
                    }
                    Err(e) if classify(&e) == IoClass::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if self.queue.is_empty() {
                self.shrink();
                return Ok(());
            }
            if tls.is_handshaking() {
                // Plaintext before the handshake is done: it waits (in
                // practice never, the HTTP head comes after the handshake).
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let taken = {
                let mut slices: [IoSlice<'_>; MAX_IOVECS] = [IoSlice::new(&[]); MAX_IOVECS];
                let n = Self::gather(&self.queue, self.front_written, &mut slices);
                let tls = self.tls.as_deref_mut().expect("a TLS socket");
                tls.encrypt(&slices[..n])?
            };
            if taken == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.advance(taken);
        }
    }

    fn shrink(&mut self) {
        if self.queue.capacity() > QUEUE_KEEP_CHUNKS {
            self.queue.shrink_to(QUEUE_KEEP_CHUNKS);
        }
    }

    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let front_left =
                self.queue.front().expect("wrote more than queued").len() - self.front_written;
            if n >= front_left {
                n -= front_left;
                self.queued_bytes -= self.front_written + front_left;
                self.front_written = 0;
                self.queue.pop_front();
            } else {
                self.front_written += n;
                n = 0;
            }
        }
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(tls) = self.tls.as_deref_mut() {
            return tls.read(&mut self.tcp, buf, &mut self.bytes_in);
        }
        if self.drained {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        loop {
            match self.tcp.read(buf) {
                Err(e) if classify(&e) == IoClass::Interrupted => continue,
                Ok(n) => {
                    self.drained = n < buf.len();
                    self.bytes_in += n as u64;
                    return Ok(n);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// tungstenite's writes (pongs, close frames) join the queue; the real
/// write happens in [`Sock::flush_queue`].
impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push_raw(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_classify() {
        let k = |k: io::ErrorKind| classify(&io::Error::from(k));
        assert_eq!(k(io::ErrorKind::WouldBlock), IoClass::WouldBlock);
        assert_eq!(k(io::ErrorKind::Interrupted), IoClass::Interrupted);
        assert_eq!(k(io::ErrorKind::ConnectionReset), IoClass::Closed);
        assert_eq!(k(io::ErrorKind::BrokenPipe), IoClass::Closed);
        assert_eq!(k(io::ErrorKind::PermissionDenied), IoClass::Fatal);
    }

    #[test]
    fn test_frame_headers() {
        assert_eq!(text_frame_header(5).1, 2);
        assert_eq!(&text_frame_header(5).0[..2], &[0x81, 5]);
        let (h, n) = text_frame_header(300);
        assert_eq!((n, &h[..4]), (4, &[0x81, 126, 1, 44][..]));
        let (h, n) = text_frame_header(70_000);
        assert_eq!(n, 10);
        assert_eq!(h[1], 127);
        assert_eq!(u64::from_be_bytes(h[2..10].try_into().unwrap()), 70_000);
    }

    /// A loopback pair; the client end reads what the queue writes.
    fn pair() -> (Sock, std::net::TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        (Sock::new(TcpStream::from_std(s)), c)
    }

    #[test]
    fn test_queue_writes_frames_in_order_with_one_writev() {
        let (mut s, mut c) = pair();
        s.push_raw(b"HTTP/1.1 101\r\n\r\n");
        for i in 0..20 {
            s.push_frame(Utf8Bytes::from(format!("m{i:02}")));
        }
        s.write_all(&[0x8a, 0]).unwrap(); // a pong, as tungstenite would write it
        let total = s.queued_bytes();
        assert_eq!(total, 16 + 20 * 5 + 2);
        s.flush_queue().unwrap();
        assert_eq!(s.writes, 1, "one writev for the whole batch");
        assert_eq!(s.queued_bytes(), 0);
        let mut buf = vec![0u8; total];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[..16], b"HTTP/1.1 101\r\n\r\n");
        assert_eq!(&buf[16..21], &[0x81, 3, b'm', b'0', b'0']);
        assert_eq!(&buf[total - 2..], &[0x8a, 0]);
    }

    #[test]
    fn test_shared_body_with_tails_resumes_inside_any_part() {
        let (mut s, mut c) = pair();
        let body = Bytes::from(r#"{"type":"event","event":"x","payload":{}"#);
        let body_len = body.len();
        s.push_out(TEXT, OutFrame::with_tail(body.clone(), br#","seq":7}"#));
        s.push_out(TEXT, OutFrame::with_tail(body, br#","seq":8}"#));
        let total = s.queued_bytes();
        // As if a first write ended inside the first tail (after `,"s`).
        let skip = 2 + body_len + 3;
        s.advance(skip);
        s.flush_queue().unwrap();
        let mut buf = vec![0u8; total - skip];
        c.read_exact(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf);
        assert!(text.starts_with(r#"eq":7}"#), "{text}");
        assert_eq!(
            buf[6], 0x81,
            "the second frame's header follows the first tail"
        );
        assert!(
            text.ends_with(r#"{"type":"event","event":"x","payload":{},"seq":8}"#),
            "{text}"
        );
    }

    #[test]
    fn test_partial_writes_resume_mid_frame() {
        let (mut s, mut c) = pair();
        // 32 MiB: more than loopback send + receive buffers can hold.
        let payload = "z".repeat(1 << 20);
        for _ in 0..32 {
            s.push_frame(Utf8Bytes::from(payload.clone()));
        }
        let total = s.queued_bytes();
        // Nobody reads yet: the socket must fill and the queue stop mid-way.
        let first = s.flush_queue();
        assert_eq!(first.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let left = s.queued_bytes();
        assert!(left > 0 && left < total, "a partial write happened");
        let reader = std::thread::spawn(move || {
            let mut got = 0usize;
            let mut buf = vec![0u8; 1 << 16];
            while got < total {
                got += c.read(&mut buf).unwrap();
            }
            got
        });
        loop {
            match s.flush_queue() {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(
            reader.join().unwrap(),
            total,
            "every byte, in order, exactly once"
        );
        assert_eq!(s.queued_bytes(), 0);
    }

    /// The bytes a planned `writev` would send, in order.
    fn planned(s: &Sock) -> (usize, Vec<u8>) {
        let mut scratch = vec![0u8; SCRATCH_BYTES];
        let mut plan = [Seg::Direct(&[]); MAX_IOVECS];
        let n = Sock::plan(&s.queue, s.front_written, &mut scratch, &mut plan);
        let mut out = vec![];
        for seg in &plan[..n] {
            out.extend_from_slice(match *seg {
                Seg::Copied(a, b) => &scratch[a..b],
                Seg::Direct(p) => p,
            });
        }
        (n, out)
    }

    #[test]
    fn test_short_parts_share_a_segment_and_long_ones_stay_in_place() {
        let (mut s, _c) = pair();
        let body = Bytes::from(r#"{"type":"event","event":"chat","payload":{}"#);
        for i in 0..20 {
            s.push_out(
                TEXT,
                OutFrame::with_tail(body.clone(), format!(",{i}}}").as_bytes()),
            );
        }
        let big = "b".repeat(COPY_BELOW * 4);
        s.push_frame(Utf8Bytes::from(big.clone()));
        s.push_frame(Utf8Bytes::from("after"));
        let (n, bytes) = planned(&s);
        // 60 short parts and the big frame's header, the big body in place,
        // then the last frame: three segments instead of 65.
        assert_eq!(n, 3);
        assert_eq!(bytes.len(), s.queued_bytes(), "all of the queue, once");
        assert!(bytes.ends_with(b"\x81\x05after"));
        let at = bytes.len() - 7 - big.len();
        assert_eq!(&bytes[at..at + big.len()], big.as_bytes());
    }

    #[test]
    fn test_more_short_parts_than_the_scratch_holds_go_out_in_rounds() {
        let (mut s, mut c) = pair();
        let mut expect = vec![];
        for i in 0..400 {
            let text = format!("{i:0>100}");
            expect.extend_from_slice(&[0x81, 100]);
            expect.extend_from_slice(text.as_bytes());
            s.push_frame(Utf8Bytes::from(text));
        }
        let (_, first) = planned(&s);
        assert!(first.len() <= SCRATCH_BYTES && first.len() < expect.len());
        s.flush_queue().unwrap();
        assert!(
            s.writes >= 3,
            "{} writes for {} bytes",
            s.writes,
            expect.len()
        );
        let mut got = vec![0u8; expect.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, expect);
    }
}
