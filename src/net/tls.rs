//! `wss://` (cargo feature `tls`): rustls on the loop's own sockets.
//!
//! rustls is sans-I/O: [`Session`] moves ciphertext between the kernel and
//! rustls, and hands plaintext to [`super::sock::Sock`], which keeps its one
//! outbound queue. The TLS handshake happens while the connection is still
//! reading its HTTP head, so the handshake timeout, the pre-auth slots and the
//! per-address limits cover it without a state of its own.
//!
//! Bounds per connection: rustls holds at most one received record's plaintext
//! (16 KiB) plus the record being read, and we cap what it buffers for sending
//! at [`SEND_BUFFER_LIMIT`]; the rest waits in our queue, under the outbound
//! limits every connection has. [`PER_CONN_WORST_BYTES`] is what the memory
//! budget adds for each socket when TLS is on.

use mio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConfig, ServerConnection, ServerSessionMemoryCache};
use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Plaintext plus records rustls may hold unsent for one connection; beyond
/// it our queue keeps the bytes (and counts them against the outbound cap).
pub const SEND_BUFFER_LIMIT: usize = 32 * 1024;
/// TLS 1.3 session resumption entries kept server-side (rustls' LRU).
pub const SESSION_CACHE_ENTRIES: usize = 256;
/// Worst case rustls holds per connection: a received record and its
/// plaintext (2 x ~16.7 KiB), a handshake message being joined (up to
/// 64 KiB while handshaking, freed after), the send limit, and its state.
pub const PER_CONN_WORST_BYTES: usize = 2 * 17 * 1024 + 64 * 1024 + SEND_BUFFER_LIMIT + 8 * 1024;
/// What a TLS connection adds in use, for the live accounting (rustls does
/// not report its buffers): `make bench` measured 6.8 KiB more RSS per idle
/// `wss://` client than per `ws://` one; a connection that has received a
/// full record keeps a buffer of that size (16.7 KiB), hence 16 KiB.
pub const PER_CONN_TYPICAL_BYTES: usize = 16 * 1024;
/// Validity of a generated certificate when `--days` is not given.
pub const DEFAULT_DAYS: u32 = 825;

/// Whether this binary was built with TLS.
pub const BUILT: bool = true;

#[derive(Debug)]
pub enum TlsError {
    Read {
        path: PathBuf,
        err: io::Error,
    },
    NoCertificate {
        path: PathBuf,
    },
    NoKey {
        path: PathBuf,
    },
    BadPem {
        path: PathBuf,
        err: String,
    },
    /// rustls refused the pair (a key that does not match the certificate...).
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        err: String,
    },
    Generate(String),
    Write {
        path: PathBuf,
        err: io::Error,
    },
    /// The output exists and `--force` was not given.
    Exists {
        path: PathBuf,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read { path, err } => write!(f, "tls: cannot read {}: {err}", path.display()),
            TlsError::NoCertificate { path } => write!(
                f,
                "tls.certPath {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
                path.display()
            ),
            TlsError::NoKey { path } => write!(
                f,
                "tls.keyPath {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it",
                path.display()
            ),
            TlsError::BadPem { path, err } => {
                write!(f, "tls: {} is not valid PEM: {err}", path.display())
            }
            TlsError::Rejected { cert, key, err } => write!(
                f,
                "tls: certificate {} with key {} refused: {err}",
                cert.display(),
                key.display()
            ),
            TlsError::Generate(e) => write!(f, "tls generate: {e}"),
            TlsError::Write { path, err } => {
                write!(f, "tls generate: cannot write {}: {err}", path.display())
            }
            TlsError::Exists { path } => write!(
                f,
                "tls generate: {} exists; pass --force to replace it",
                path.display()
            ),
        }
    }
}

impl std::error::Error for TlsError {}

/// The server side of TLS: one rustls config shared by every connection.
#[derive(Clone)]
pub struct Acceptor {
    config: Arc<ServerConfig>,
    fingerprint: String,
}

impl Acceptor {
    /// Loads a PEM certificate chain and its private key.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Acceptor, TlsError> {
        let cert_pem = std::fs::read(cert_path).map_err(|err| TlsError::Read {
            path: cert_path.to_path_buf(),
            err,
        })?;
        let key_pem = std::fs::read(key_path).map_err(|err| TlsError::Read {
            path: key_path.to_path_buf(),
            err,
        })?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::BadPem {
                path: cert_path.to_path_buf(),
                err: e.to_string(),
            })?;
        let Some(leaf) = chain.first() else {
            return Err(TlsError::NoCertificate {
                path: cert_path.to_path_buf(),
            });
        };
        let fingerprint = fingerprint(leaf);
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
                path: key_path.to_path_buf(),
            },
            e => TlsError::BadPem {
                path: key_path.to_path_buf(),
                err: e.to_string(),
            },
        })?;
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Rejected {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
                err: e.to_string(),
            })?;
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
        // WebSocket only needs HTTP/1.1; no ALPN list means none is chosen.
        Ok(Acceptor {
            config: Arc::new(config),
            fingerprint,
        })
    }

    /// SHA-256 of the leaf certificate, `AA:BB:...` (what clients pin).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A new server-side session for an accepted socket.
    pub fn session(&self) -> io::Result<Box<Session>> {
        let mut conn = ServerConnection::new(self.config.clone()).map_err(io::Error::other)?;
        conn.set_buffer_limit(Some(SEND_BUFFER_LIMIT));
        Ok(Box::new(Session {
            conn,
            handshake_done: false,
        }))
    }
}

/// One connection's TLS state.
pub struct Session {
    conn: ServerConnection,
    handshake_done: bool,
}

impl Session {
    /// Plaintext into `buf`: what rustls already holds first, then records
    /// from the socket until one yields plaintext or the socket is drained
    /// (`WouldBlock`). `Ok(0)` is the end of the stream.
    pub fn read(
        &mut self,
        tcp: &mut TcpStream,
        buf: &mut [u8],
        wire_in: &mut u64,
    ) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match self.conn.read_tls(tcp) {
                Ok(0) => return Ok(0),
                Ok(n) => *wire_in += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.conn.process_new_packets() {
                // rustls queued an alert telling the peer why; one attempt.
                let _ = self.conn.write_tls(tcp);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            if !self.conn.is_handshaking() {
                self.handshake_done = true;
            }
        }
    }

    /// The handshake completed at some point (for the stats).
    pub fn handshake_done(&self) -> bool {
        self.handshake_done
    }

    /// Records (handshake or data) waiting for the socket.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Writes pending records to the socket.
    pub fn write_tls(&mut self, tcp: &mut TcpStream) -> io::Result<usize> {
        self.conn.write_tls(tcp)
    }

    /// Encrypts as much of `slices` as the send limit allows; returns the
    /// plaintext bytes taken.
    pub fn encrypt(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        self.conn.writer().write_vectored(slices)
    }

    /// Queues close_notify, so the peer can tell our end from a cut.
    pub fn close_notify(&mut self) {
        self.conn.send_close_notify();
    }
}

/// SHA-256 of a DER certificate as colon-separated upper-case hex, the form
/// `openssl x509 -fingerprint -sha256` prints.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(der);
    let mut out = String::with_capacity(digest.len() * 3);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// A generated self-signed pair.
pub struct Generated {
    pub cert_pem: String,
    pub key_pem: String,
    pub fingerprint: String,
}

/// A self-signed ECDSA P-256 certificate for `hosts` (DNS names or IP
/// addresses), valid from yesterday (clock skew) for `days` days.
pub fn generate(hosts: &[String], days: u32) -> Result<Generated, TlsError> {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
    let mut params =
        CertificateParams::new(hosts.to_vec()).map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("clawgate {}", hosts[0]));
    params.distinguished_name = dn;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let from = now.saturating_sub(86_400);
    params.not_before = unix_to_rcgen(from)?;
    params.not_after = unix_to_rcgen(from + u64::from(days.max(1)) * 86_400 + 86_400)?;
    let key = KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok(Generated {
        fingerprint: fingerprint(cert.der()),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn unix_to_rcgen(secs: u64) -> Result<time::OffsetDateTime, TlsError> {
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .map_err(|e| TlsError::Generate(e.to_string()))
}

/// Writes `cert.pem` (0644) and `key.pem` (0600) into `dir` (created 0700).
pub fn write_pair(dir: &Path, g: &Generated, force: bool) -> Result<(PathBuf, PathBuf), TlsError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    for p in [&cert, &key] {
        if !force && p.exists() {
            return Err(TlsError::Exists { path: p.clone() });
        }
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|err| TlsError::Write {
            path: dir.to_path_buf(),
            err,
        })?;
    for (path, text, mode) in [(&key, &g.key_pem, 0o600), (&cert, &g.cert_pem, 0o644)] {
        let tmp = path.with_extension("pem.tmp");
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(text.as_bytes())?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, path));
        written.map_err(|err| TlsError::Write {
            path: path.clone(),
            err,
        })?;
    }
    Ok((cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_generated_pair_loads_and_fingerprint_matches() {
        let g = generate(&["localhost".into(), "127.0.0.1".into()], 30).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(dir.path(), &g, false).unwrap();
        let a = Acceptor::load(&cert, &key).unwrap();
        assert_eq!(a.fingerprint(), g.fingerprint);
        assert_eq!(a.fingerprint().len(), 32 * 3 - 1);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the private key is private");
        assert!(matches!(
            write_pair(dir.path(), &g, false),
            Err(TlsError::Exists { .. })
        ));
        write_pair(dir.path(), &g, true).unwrap();
    }

    #[test]
    fn test_load_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let g = generate(&["localhost".into()], 1).unwrap();
        let other = generate(&["localhost".into()], 1).unwrap();
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        let missing = dir.path().join("missing.pem");
        std::fs::write(&cert, &g.cert_pem).unwrap();
        std::fs::write(&key, &other.key_pem).unwrap();
        let e = Acceptor::load(&missing, &key).err().unwrap().to_string();
        assert!(e.contains("missing.pem"), "{e}");
        std::fs::write(&missing, "not pem").unwrap();
        let e = Acceptor::load(&missing, &key).err().unwrap().to_string();
        assert!(
            e.contains("no PEM certificate") && e.contains("missing.pem"),
            "{e}"
        );
        let e = Acceptor::load(&cert, &missing).err().unwrap().to_string();
        assert!(
            e.contains("no PEM private key") && e.contains("missing.pem"),
            "{e}"
        );
        // A key from another pair: refused, naming both files.
        let e = Acceptor::load(&cert, &key).err().unwrap().to_string();
        assert!(e.contains("c.pem") && e.contains("k.pem"), "{e}");
    }
}
