//! Bytes from a client, after the upgrade: WebSocket frames (tungstenite,
//! with the gateway's pre-auth limits), text to JSON, JSON to a request,
//! a connect's params to `ConnectParams` and a device check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::{Cursor, Read, Write};
use tungstenite::protocol::{Role, WebSocketContext};

/// A stream that yields the input and then would block (as a socket).
struct Input(Cursor<Vec<u8>>);

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }
}

impl Write for Input {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let cfg = clawgate::net::conn::ws_config(64 * 1024, 4096);
    let mut ws = WebSocketContext::new(Role::Server, Some(cfg));
    let mut stream = Input(Cursor::new(data.to_vec()));
    for _ in 0..64 {
        match ws.read(&mut stream) {
            Ok(tungstenite::Message::Text(t)) => handle(t.as_str()),
            Ok(tungstenite::Message::Binary(b)) => {
                if let Ok(t) = std::str::from_utf8(&b) {
                    handle(t);
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    // The text path alone too, so JSON shapes are reached without framing.
    if let Ok(t) = std::str::from_utf8(data) {
        handle(t);
    }
});

fn handle(text: &str) {
    match clawgate::protocol::parse_request(text) {
        Ok(req) => {
            if let Ok(p) = clawgate::protocol::handshake::parse_connect(req.params.as_ref()) {
                if p.device.is_some() {
                    let _ = clawgate::protocol::device::verify(&p, "nonce", 1_790_000_000_000);
                }
                let _ = clawgate::protocol::handshake::grant_scopes(p.role, p.scopes.as_deref());
            }
        }
        Err(e) => {
            let _ = e.to_error();
            let _ = e.reply_id();
        }
    }
}
