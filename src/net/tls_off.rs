//! A binary built without the `tls` feature: the same names as `tls.rs`,
//! with types that cannot exist, so the code around them compiles once and
//! the plain path carries no TLS branch at run time.

use mio::net::TcpStream;
use std::fmt;
use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};

pub const PER_CONN_WORST_BYTES: usize = 0;
pub const PER_CONN_TYPICAL_BYTES: usize = 0;
pub const DEFAULT_DAYS: u32 = 825;
pub const BUILT: bool = false;

#[derive(Debug)]
pub enum TlsError {
    NotBuilt,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tls: this clawgate was built without TLS; rebuild with `--features tls` (make cross FEATURES=tls)"
        )
    }
}

impl std::error::Error for TlsError {}

#[derive(Clone)]
pub enum Acceptor {}

impl Acceptor {
    pub fn load(_cert: &Path, _key: &Path) -> Result<Acceptor, TlsError> {
        Err(TlsError::NotBuilt)
    }

    pub fn session(&self) -> io::Result<Box<Session>> {
        match *self {}
    }

    pub fn fingerprint(&self) -> &str {
        match *self {}
    }
}

pub enum Session {}

impl Session {
    pub fn read(&mut self, _: &mut TcpStream, _: &mut [u8], _: &mut u64) -> io::Result<usize> {
        match *self {}
    }
    pub fn wants_write(&self) -> bool {
        match *self {}
    }
    pub fn is_handshaking(&self) -> bool {
        match *self {}
    }
    pub fn handshake_done(&self) -> bool {
        match *self {}
    }
    pub fn write_tls(&mut self, _: &mut TcpStream) -> io::Result<usize> {
        match *self {}
    }
    pub fn encrypt(&mut self, _: &[IoSlice<'_>]) -> io::Result<usize> {
        match *self {}
    }
    pub fn close_notify(&mut self) {
        match *self {}
    }
}

pub struct Generated {
    pub cert_pem: String,
    pub key_pem: String,
    pub fingerprint: String,
}

pub fn generate(_hosts: &[String], _days: u32) -> Result<Generated, TlsError> {
    Err(TlsError::NotBuilt)
}

pub fn write_pair(_: &Path, _: &Generated, _: bool) -> Result<(PathBuf, PathBuf), TlsError> {
    Err(TlsError::NotBuilt)
}
