//! One client connection: its state machine, its WebSocket context and its
//! outbound queue. No protocol logic here: the gateway decides what to send and
//! when to close; this file knows how bytes move and what state allows it.

use super::http::{self, HttpError, HttpRequest};
use super::sock::{classify, IoClass, OutFrame, Sock};
use super::ConnId;
use crate::reactor::timer::TimerId;
use mio::net::TcpStream;
use mio::Interest;
use std::io::Read;
use std::net::SocketAddr;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Message, Utf8Bytes};

/// Bytes read from the socket per `read` call while in the HTTP phase.
const HTTP_READ_CHUNK: usize = 1024;
/// tungstenite's own write buffer only ever holds one control frame before it
/// lands in our queue; this limit just has to exceed its write threshold (0).
const TUNGSTENITE_WRITE_LIMIT: usize = 4096;

/// Lifecycle of a connection. Every change goes through [`Conn::set_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Reading the HTTP request head.
    HttpHead,
    /// Writing a plain HTTP response; closed once it is out.
    HttpReply,
    /// WebSocket open, `connect.challenge` sent, waiting for `connect`.
    AwaitConnect,
    /// Authenticated.
    Open,
    /// Our close frame is queued or sent; waiting for the peer's (bounded by
    /// the linger timer).
    Closing,
}

/// Outcome of reading in the HTTP phase.
#[derive(Debug)]
pub enum HttpRead {
    NeedMore,
    Request(HttpRequest),
    Error(HttpError),
    Closed,
}

/// Outcome of reading one WebSocket message.
#[derive(Debug)]
pub enum WsRead {
    Message(Message),
    WouldBlock,
    /// The peer closed (after or without a close handshake).
    Closed,
    /// The peer broke the protocol or a limit: close with this code.
    Fault {
        code: u16,
        reason: String,
    },
}

/// Outcome of a flush.
#[derive(Debug, PartialEq, Eq)]
pub enum Flush {
    /// Everything is on the wire.
    Done,
    /// The socket is full: wait for writable.
    Pending,
    /// The connection is gone (closed by peer, or our close completed).
    Closed,
}

/// Batched events *held* until their batch is released (count or timer);
/// released frames go to the socket's queue ([`Sock`]).
#[derive(Default)]
struct Held {
    frames: Vec<OutFrame>,
    bytes: usize,
}

/// Size of a server (unmasked) frame with an `n`-byte payload.
pub fn frame_len(n: usize) -> usize {
    n + super::sock::frame_header(super::sock::TEXT, n).1 as usize
}

/// The tungstenite configuration for one phase of a connection. tungstenite
/// only decodes and writes control frames (into our queue, at once), so its
/// write buffer stays empty.
pub fn ws_config(max_payload: usize, read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(0)
        .max_write_buffer_size(TUNGSTENITE_WRITE_LIMIT)
        .max_message_size(Some(max_payload))
        .max_frame_size(Some(max_payload))
}

pub struct Conn {
    pub id: ConnId,
    pub addr: SocketAddr,
    state: ConnState,
    pub sock: Sock,
    http_buf: Vec<u8>,
    ws: Option<WebSocketContext>,
    held: Held,
    /// Interest currently registered with the poll (`None`: not registered).
    pub registered: Option<Interest>,
    /// Challenge nonce sent on open.
    pub nonce: String,
    /// Over the connection rate at accept: refused at `connect` with this
    /// retry hint (ms), or a 429 for a plain request.
    pub throttled: Option<u64>,
    pub handshake_timer: Option<TimerId>,
    pub idle_timer: Option<TimerId>,
    pub batch_timer: Option<TimerId>,
    pub linger_timer: Option<TimerId>,
    /// Per-connection event counter (`seq`), starts at 1.
    pub seq: u64,
    /// The read budget ran out with data possibly left: read again before the
    /// next poll (edge-triggered readiness will not tell us again).
    pub read_again: bool,
    /// The peer broke the protocol: tungstenite's read side is unusable, so
    /// after our close frame we only discard input until EOF or the linger.
    reads_failed: bool,
    write_shut: bool,
    /// tungstenite finished the close handshake: once the queue is out, done.
    ws_terminated: bool,
}

impl Conn {
    pub fn new(id: ConnId, tcp: TcpStream, addr: SocketAddr) -> Conn {
        Conn {
            id,
            addr,
            state: ConnState::HttpHead,
            sock: Sock::new(tcp),
            http_buf: Vec::new(),
            ws: None,
            held: Held::default(),
            registered: None,
            nonce: String::new(),
            throttled: None,
            handshake_timer: None,
            idle_timer: None,
            batch_timer: None,
            linger_timer: None,
            seq: 0,
            read_again: false,
            reads_failed: false,
            write_shut: false,
            ws_terminated: false,
        }
    }

    pub fn state(&self) -> ConnState {
        self.state
    }

    /// The one place a connection changes state.
    pub fn set_state(&mut self, new: ConnState) {
        if self.state != new {
            log::debug!("{} {}: {:?} -> {:?}", self.id, self.addr, self.state, new);
            self.state = new;
        }
    }

    /// Readable while the state reads; writable only while output is pending.
    pub fn interest(&self) -> Interest {
        match self.state {
            // A TLS handshake writes its flights before any HTTP is read.
            ConnState::HttpHead if self.write_pending() => Interest::READABLE | Interest::WRITABLE,
            ConnState::HttpHead => Interest::READABLE,
            ConnState::HttpReply => Interest::WRITABLE,
            ConnState::AwaitConnect | ConnState::Open | ConnState::Closing => {
                if self.write_pending() {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                }
            }
        }
    }

    pub fn write_pending(&self) -> bool {
        self.sock.has_pending()
    }

    /// Reads more of the request head (bounded by `max_head`) and of a
    /// plain request's body (bounded by `max_body`).
    pub fn read_http(&mut self, max_head: usize, max_body: usize) -> HttpRead {
        let mut chunk = [0u8; HTTP_READ_CHUNK];
        loop {
            match self.sock.read(&mut chunk) {
                Ok(0) => return HttpRead::Closed,
                Ok(n) => {
                    if self.http_buf.len() + n > max_head + max_body {
                        return HttpRead::Error(HttpError::HeadTooLarge);
                    }
                    self.http_buf.extend_from_slice(&chunk[..n]);
                    match http::parse_head(&self.http_buf) {
                        Ok(None) if self.http_buf.len() > max_head => {
                            return HttpRead::Error(HttpError::HeadTooLarge)
                        }
                        Ok(None) => continue,
                        // The buffer may hold a body too; the head alone
                        // is held to its own bound.
                        Ok(Some(HttpRequest::Plain(p))) if p.head_len > max_head => {
                            return HttpRead::Error(HttpError::HeadTooLarge)
                        }
                        Ok(Some(HttpRequest::Upgrade { head_len, .. })) if head_len > max_head => {
                            return HttpRead::Error(HttpError::HeadTooLarge)
                        }
                        Ok(Some(HttpRequest::Plain(mut p))) if p.content_length.is_some() => {
                            let len = p.content_length.unwrap_or(0);
                            if len > max_body {
                                return HttpRead::Error(HttpError::BodyTooLarge(max_body));
                            }
                            let end = p.head_len + len;
                            if self.http_buf.len() < end {
                                continue;
                            }
                            p.body = self.http_buf[p.head_len..end].to_vec();
                            return HttpRead::Request(HttpRequest::Plain(p));
                        }
                        Ok(Some(req)) => return HttpRead::Request(req),
                        Err(e) => return HttpRead::Error(e),
                    }
                }
                Err(e) => match classify(&e) {
                    IoClass::WouldBlock => return HttpRead::NeedMore,
                    IoClass::Interrupted => continue,
                    IoClass::Closed | IoClass::Fatal => return HttpRead::Closed,
                },
            }
        }
    }

    /// Answers the head with a plain response and closes after it is written.
    pub fn reply_http(&mut self, response: &[u8]) {
        self.http_buf = Vec::new();
        self.sock.push_raw(response);
        self.set_state(ConnState::HttpReply);
    }

    /// Completes the upgrade: queues the 101, starts the WebSocket with the
    /// pre-auth limits and whatever bytes followed the head.
    pub fn upgrade(&mut self, accept: &str, head_len: usize, config: WebSocketConfig) {
        let leftover = self.http_buf.split_off(head_len.min(self.http_buf.len()));
        self.http_buf = Vec::new();
        self.sock.push_raw(&http::switching_protocols(accept));
        self.ws = Some(WebSocketContext::from_partially_read(
            leftover,
            Role::Server,
            Some(config),
        ));
        self.set_state(ConnState::AwaitConnect);
    }

    /// Applies new limits (after authentication, or on reload).
    pub fn set_ws_config(&mut self, config: WebSocketConfig) {
        if let Some(ws) = self.ws.as_mut() {
            ws.set_config(|c| *c = config);
        }
    }

    /// Reads one message. Pings are answered by tungstenite: the pong joins
    /// our queue through [`Sock`]'s `Write`.
    pub fn read_message(&mut self) -> WsRead {
        if self.reads_failed {
            return self.discard_input();
        }
        let Some(ws) = self.ws.as_mut() else {
            return WsRead::Closed;
        };
        match ws.read(&mut self.sock) {
            Ok(msg) => {
                if matches!(msg, Message::Close(_)) {
                    // Push tungstenite's echo (or nothing, when we closed
                    // first) into our queue; it reports the handshake done.
                    if let Err(tungstenite::Error::ConnectionClosed) = ws.flush(&mut self.sock) {
                        self.ws_terminated = true;
                    }
                    self.set_state(ConnState::Closing);
                }
                WsRead::Message(msg)
            }
            Err(e) => {
                let r = map_ws_error(e);
                if matches!(r, WsRead::Fault { .. }) {
                    self.reads_failed = true;
                }
                r
            }
        }
    }

    /// Reads and drops whatever the peer still sends after a protocol fault, so
    /// closing the socket does not turn into a reset that eats our close frame.
    fn discard_input(&mut self) -> WsRead {
        let mut scratch = [0u8; 4096];
        loop {
            match self.sock.read(&mut scratch) {
                Ok(0) => return WsRead::Closed,
                Ok(_) => continue,
                Err(e) => match classify(&e) {
                    IoClass::WouldBlock => return WsRead::WouldBlock,
                    IoClass::Interrupted => continue,
                    _ => return WsRead::Closed,
                },
            }
        }
    }

    /// After a fault, once our close frame is out, half-close the socket so the
    /// peer sees the close frame and then EOF.
    pub fn finish_failed_close(&mut self) {
        if self.reads_failed && !self.write_shut && !self.write_pending() {
            self.write_shut = true;
            self.sock.close_notify();
            let _ = self.sock.tcp.shutdown(std::net::Shutdown::Write);
        }
    }

    /// Outbound bytes waiting: held batched frames plus the socket queue.
    pub fn pending_out_bytes(&self) -> usize {
        self.held.bytes + self.sock.queued_bytes()
    }

    pub fn batch_len(&self) -> usize {
        self.held.frames.len()
    }

    /// Holds a batched frame until the batch is released.
    pub fn push_batched(&mut self, frame: OutFrame) {
        self.held.bytes += frame_len(frame.len());
        self.held.frames.push(frame);
    }

    /// Releases held frames, then `frame`, to the socket queue (order kept);
    /// the caller flushes. Returns how many frames were released.
    pub fn write_now(&mut self, frame: Option<OutFrame>) -> usize {
        // Drained, not taken: the held list keeps its (batch-sized)
        // allocation instead of growing again from nothing every batch.
        self.held.bytes = 0;
        let n = self.held.frames.len() + usize::from(frame.is_some());
        for f in self.held.frames.drain(..).chain(frame) {
            self.sock.push_out(super::sock::TEXT, f);
        }
        n
    }

    /// Writes the queue (one `writev` per batch, usually).
    pub fn flush(&mut self) -> Flush {
        match self.sock.flush_queue() {
            Ok(()) if self.state == ConnState::HttpReply || self.ws_terminated => {
                self.sock.close_notify();
                Flush::Closed
            }
            Ok(()) => Flush::Done,
            Err(e) if classify(&e) == IoClass::WouldBlock => Flush::Pending,
            Err(_) => Flush::Closed,
        }
    }

    /// Starts the close handshake: held frames are discarded; released ones
    /// (an error `res` explaining the close) stay ahead of the close frame.
    pub fn start_close(&mut self, code: u16, reason: &str) {
        self.discard_batch();
        if let Some(ws) = self.ws.as_mut() {
            if ws.can_write() {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: Utf8Bytes::from(reason.to_string()),
                };
                // Written into our queue at once (see `Sock`'s `Write`).
                if let Err(tungstenite::Error::ConnectionClosed) =
                    ws.close(&mut self.sock, Some(frame))
                {
                    self.ws_terminated = true;
                }
            }
        }
        self.set_state(ConnState::Closing);
    }

    /// Drops held frames (shutdown, slow consumer).
    pub fn discard_batch(&mut self) -> usize {
        let n = self.held.frames.len();
        self.held.frames.clear();
        self.held.bytes = 0;
        n
    }

    /// Bytes this connection holds in user space right now, for the memory
    /// accounting: head buffer, outbound frames, tungstenite's read buffer,
    /// and rustls' buffers (their measured typical size; rustls does not
    /// report its own).
    pub fn buffered_bytes(&self, read_buffer: usize) -> usize {
        self.http_buf.capacity()
            + self.pending_out_bytes()
            + if self.ws.is_some() { read_buffer } else { 0 }
            + if self.sock.is_tls() {
                super::tls::PER_CONN_TYPICAL_BYTES
            } else {
                0
            }
    }
}

/// tungstenite's errors mapped once to what the connection does next.
fn map_ws_error(e: tungstenite::Error) -> WsRead {
    use tungstenite::error::{CapacityError, Error, ProtocolError};
    match e {
        Error::Io(io) => match classify(&io) {
            IoClass::WouldBlock => WsRead::WouldBlock,
            _ => WsRead::Closed,
        },
        Error::ConnectionClosed | Error::AlreadyClosed => WsRead::Closed,
        Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => WsRead::Fault {
            code: crate::protocol::close::TOO_BIG,
            reason: format!("frame too big: {size} > {max_size} bytes"),
        },
        Error::Capacity(c) => WsRead::Fault {
            code: crate::protocol::close::TOO_BIG,
            reason: c.to_string(),
        },
        Error::Utf8(_) => WsRead::Fault {
            code: crate::protocol::close::INVALID_PAYLOAD,
            reason: "invalid UTF-8 in text frame".into(),
        },
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => WsRead::Closed,
        Error::Protocol(p) => WsRead::Fault {
            code: crate::protocol::close::PROTOCOL_ERROR,
            reason: truncate_reason(&p.to_string()),
        },
        Error::WriteBufferFull(_) => WsRead::Fault {
            code: crate::protocol::close::POLICY,
            reason: "slow consumer".into(),
        },
        other => WsRead::Fault {
            code: crate::protocol::close::INTERNAL,
            reason: truncate_reason(&other.to_string()),
        },
    }
}

/// Close reasons must fit a control frame (125 bytes minus the code).
pub fn truncate_reason(s: &str) -> String {
    let mut end = s.len().min(120);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::ConnTable;
    use std::io::Write;

    /// A connection over a real loopback socket pair, plus the client end.
    fn conn_pair() -> (Conn, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, addr) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let id = ConnId {
            index: 0,
            generation: 0,
        };
        (Conn::new(id, TcpStream::from_std(server), addr), client)
    }

    fn conn_open() -> (Conn, std::net::TcpStream) {
        let (mut c, client) = conn_pair();
        c.upgrade("x", 0, ws_config(65536, 4096));
        c.set_state(ConnState::Open);
        assert_eq!(c.flush(), Flush::Done, "the 101 goes out first");
        (c, client)
    }

    #[test]
    fn test_http_head_interest_is_read_only() {
        let (c, _client) = conn_pair();
        assert_eq!(c.state(), ConnState::HttpHead);
        assert_eq!(c.interest(), Interest::READABLE);
    }

    #[test]
    fn test_http_head_over_limit() {
        let (mut c, mut client) = conn_pair();
        client.write_all(&[b'A'; 600]).unwrap();
        client.flush().unwrap();
        // Wait on the condition (bytes arrived), not a fixed time.
        let mut r = HttpRead::NeedMore;
        for _ in 0..10_000 {
            r = c.read_http(512, 0);
            if !matches!(r, HttpRead::NeedMore) {
                break;
            }
            std::thread::yield_now();
        }
        assert!(
            matches!(r, HttpRead::Error(HttpError::HeadTooLarge)),
            "{r:?}"
        );
    }

    #[test]
    fn test_open_write_interest_only_while_pending() {
        let (mut c, _client) = conn_open();
        assert_eq!(c.interest(), Interest::READABLE);
        c.write_now(Some(OutFrame::text("hello".to_string())));
        assert!(c.interest().is_writable());
        assert_eq!(c.flush(), Flush::Done);
        assert_eq!(c.interest(), Interest::READABLE);
        assert_eq!(c.pending_out_bytes(), 0);
    }

    #[test]
    fn test_open_batch_accounting() {
        let (mut c, _client) = conn_open();
        c.push_batched(OutFrame::text("a".repeat(200)));
        assert_eq!(c.pending_out_bytes(), frame_len(200));
        assert_eq!(c.batch_len(), 1);
        assert_eq!(c.write_now(None), 1);
        assert_eq!(c.pending_out_bytes(), frame_len(200));
        assert_eq!(c.batch_len(), 0);
        assert_eq!(c.flush(), Flush::Done);
        assert_eq!(c.pending_out_bytes(), 0);
    }

    #[test]
    fn test_open_close_moves_to_closing() {
        let (mut c, _client) = conn_open();
        c.push_batched(OutFrame::text("x".to_string()));
        c.start_close(1000, "Idle timeout");
        assert_eq!(c.state(), ConnState::Closing);
        assert_eq!(c.batch_len(), 0);
        assert!(c.write_pending());
    }

    #[test]
    fn test_open_close_keeps_released_frames_ahead_of_close() {
        use std::io::Read;
        let (mut c, mut client) = conn_open();
        let mut skip = [0u8; 512];
        // Drain the 101 the fixture sent.
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let n = client.read(&mut skip).unwrap();
        assert!(std::str::from_utf8(&skip[..n])
            .unwrap()
            .ends_with("\r\n\r\n"));
        c.write_now(Some(OutFrame::text("the reason".to_string())));
        c.start_close(1008, "bye");
        assert!(matches!(c.flush(), Flush::Done | Flush::Closed));
        let mut buf = vec![0u8; 64];
        let mut got = Vec::new();
        while got.len() < 12 + 7 {
            let n = client.read(&mut buf).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got[0], 0x81, "text frame first");
        assert_eq!(&got[2..12], b"the reason");
        assert_eq!(got[12], 0x88, "then the close frame");
    }

    #[test]
    fn test_frame_len() {
        assert_eq!(frame_len(0), 2);
        assert_eq!(frame_len(125), 127);
        assert_eq!(frame_len(126), 130);
        assert_eq!(frame_len(70_000), 70_010);
    }

    #[test]
    fn test_table_drops_stale_ids() {
        let mut t = ConnTable::new(2);
        let (c1, _a) = conn_pair();
        let (c2, _b) = conn_pair();
        let (c3, _c) = conn_pair();
        let mut parts = vec![c3, c2, c1];
        let mut take = |id: ConnId| {
            let mut c = parts.pop().unwrap();
            c.id = id;
            c
        };
        let a = t.insert_with(&mut take).unwrap();
        let _b = t.insert_with(&mut take).unwrap();
        assert!(t.is_full());
        assert!(t.insert_with(|_| unreachable!()).is_none());
        assert!(t.remove(a).is_some());
        let c = t.insert_with(&mut take).unwrap();
        assert_eq!(c.index, a.index);
        assert_ne!(c.generation, a.generation);
        assert!(
            t.get(a).is_none(),
            "stale id must not reach the new connection"
        );
        assert!(t.remove(a).is_none());
        assert!(t.get(c).is_some());
    }
}
