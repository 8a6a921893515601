//! The socket wrapper every connection reads and writes through, and the one
//! place where `io::Error` is classified.

use mio::net::TcpStream;
use std::io::{self, Read, Write};

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
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected => {
            IoClass::Closed
        }
        _ => IoClass::Fatal,
    }
}

/// A TCP stream plus a "prelude" (the HTTP response head) that must reach the
/// wire before any WebSocket bytes, and byte counters for the metrics and the
/// outbound accounting.
pub struct Sock {
    pub tcp: TcpStream,
    prelude: Vec<u8>,
    prelude_sent: usize,
    pub bytes_in: u64,
    /// Bytes written after the prelude (WebSocket frames).
    pub ws_bytes_out: u64,
    pub prelude_bytes_out: u64,
}

impl Sock {
    pub fn new(tcp: TcpStream) -> Self {
        Sock {
            tcp,
            prelude: Vec::new(),
            prelude_sent: 0,
            bytes_in: 0,
            ws_bytes_out: 0,
            prelude_bytes_out: 0,
        }
    }

    /// Queues raw bytes (an HTTP response) ahead of everything else.
    pub fn push_prelude(&mut self, bytes: &[u8]) {
        self.prelude.extend_from_slice(bytes);
    }

    pub fn prelude_pending(&self) -> bool {
        self.prelude_sent < self.prelude.len()
    }

    /// Writes what it can of the prelude. `Ok(true)` when it is all out.
    pub fn flush_prelude(&mut self) -> io::Result<bool> {
        while self.prelude_pending() {
            match self.tcp.write(&self.prelude[self.prelude_sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.prelude_sent += n;
                    self.prelude_bytes_out += n as u64;
                }
                Err(e) if classify(&e) == IoClass::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.prelude = Vec::new();
        self.prelude_sent = 0;
        Ok(true)
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tcp.read(buf) {
                Err(e) if classify(&e) == IoClass::Interrupted => continue,
                Ok(n) => {
                    self.bytes_in += n as u64;
                    return Ok(n);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.prelude_pending() {
            self.flush_prelude()?;
        }
        loop {
            match self.tcp.write(buf) {
                Err(e) if classify(&e) == IoClass::Interrupted => continue,
                Ok(n) => {
                    self.ws_bytes_out += n as u64;
                    return Ok(n);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.prelude_pending() {
            self.flush_prelude()?;
        }
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
}
