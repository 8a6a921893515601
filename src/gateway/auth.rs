//! Shared-secret authentication: where the token comes from, the
//! constant-time check, and the per-address failure throttle.

use hashlink::LruCache;
use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// File in the data dir holding the generated token.
pub const TOKEN_FILE: &str = "token";
/// Random bytes in a generated token (hex-encoded: 64 characters).
pub const TOKEN_BYTES: usize = 32;

/// The secrets a connect is checked against.
#[derive(Clone, Default, PartialEq)]
pub struct Secrets {
    pub token: Option<String>,
    pub password: Option<String>,
    /// Where the token came from, for the start-up message.
    pub token_origin: String,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets {{ token from {} }}", self.token_origin)
    }
}

#[derive(Debug)]
pub enum AuthError {
    TokenFile { path: PathBuf, err: std::io::Error },
    Random(std::io::Error),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::TokenFile { path, err } => {
                write!(f, "token file {}: {err}", path.display())
            }
            AuthError::Random(e) => write!(f, "cannot read random bytes: {e}"),
        }
    }
}

impl std::error::Error for AuthError {}

/// Fills `buf` from the kernel's CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> Result<(), AuthError> {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(AuthError::Random(e));
        }
        filled += n as usize;
    }
    Ok(())
}

pub fn random_hex(bytes: usize) -> Result<String, AuthError> {
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Token precedence: explicit (flag, env or config file) > `<dataDir>/token`,
/// which is generated (mode 0600) when absent and no password is configured.
pub fn resolve_secrets(
    explicit_token: Option<&str>,
    password: Option<&str>,
    data_dir: &Path,
) -> Result<Secrets, AuthError> {
    if let Some(t) = explicit_token {
        return Ok(Secrets {
            token: Some(t.to_string()),
            password: password.map(str::to_string),
            token_origin: "configuration".into(),
        });
    }
    let path = data_dir.join(TOKEN_FILE);
    let file_err = |err| AuthError::TokenFile {
        path: path.clone(),
        err,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => {
            return Ok(Secrets {
                token: Some(text.trim().to_string()),
                password: password.map(str::to_string),
                token_origin: path.display().to_string(),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_err(e)),
    }
    if password.is_some() {
        return Ok(Secrets {
            token: None,
            password: password.map(str::to_string),
            token_origin: "none (password auth)".into(),
        });
    }
    std::fs::create_dir_all(data_dir).map_err(file_err)?;
    let token = random_hex(TOKEN_BYTES)?;
    write_private(&path, &token).map_err(file_err)?;
    log::info!("generated a gateway token into {}", path.display());
    Ok(Secrets {
        token: Some(token),
        password: None,
        token_origin: path.display().to_string(),
    })
}

/// Takes group and other access away from the data dir when this process
/// owns it (a dir made before, or under a 022 umask). Returns the old mode
/// when it changed. systemd's `StateDirectoryMode=0700` does the same.
pub fn private_dir(dir: &Path) -> std::io::Result<Option<u32>> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(dir)?;
    let mode = meta.mode() & 0o7777;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if mode & 0o077 == 0 || meta.uid() != me {
        return Ok(None);
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))?;
    Ok(Some(mode))
}

pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// Compares without an early exit on the first differing byte, and reads the
/// whole of the longer input so the time does not leak the secret's length
/// prefix either.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0 && a.len() == b.len()
}

/// The outcome of checking connect credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No token or password was given.
    Missing,
    /// A credential was given and it is wrong.
    Mismatch,
}

impl AuthFailure {
    pub fn detail_code(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "AUTH_TOKEN_MISSING",
            AuthFailure::Mismatch => "AUTH_TOKEN_MISMATCH",
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "unauthorized: gateway token missing",
            AuthFailure::Mismatch => "unauthorized: gateway token mismatch",
        }
    }
}

/// Longest credential secret looked up (ours are 68 characters).
pub const MAX_SECRET_LEN: usize = 256;

/// Prefix of the secrets `clawgate token create` makes.
pub const CREDENTIAL_PREFIX: &str = "cgt_";

/// Hex SHA-256 of a secret, as credentials are stored.
pub fn secret_sha256(secret: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(secret.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new credential secret: the prefix and 32 random bytes in hex.
pub fn new_credential_secret() -> Result<String, AuthError> {
    Ok(format!("{CREDENTIAL_PREFIX}{}", random_hex(32)?))
}

/// Checks the connect's token or password against the configured secrets.
pub fn check(
    secrets: &Secrets,
    token: Option<&str>,
    password: Option<&str>,
) -> Result<(), AuthFailure> {
    if token.is_none() && password.is_none() {
        return Err(AuthFailure::Missing);
    }
    let token_ok = match (&secrets.token, token) {
        (Some(want), Some(got)) => constant_time_eq(want.as_bytes(), got.as_bytes()),
        _ => false,
    };
    let password_ok = match (&secrets.password, password) {
        (Some(want), Some(got)) => constant_time_eq(want.as_bytes(), got.as_bytes()),
        _ => false,
    };
    if token_ok || password_ok {
        Ok(())
    } else {
        Err(AuthFailure::Mismatch)
    }
}

struct Failures {
    count: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
}

/// The throttle's key for an address: its IPv4 /24 or IPv6 /64, and every
/// loopback address as one. An attacker holding a prefix (or all of 127/8)
/// can rotate source addresses at will; the prefix is what costs them.
pub fn throttle_key(ip: IpAddr) -> IpAddr {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    if ip.is_loopback() {
        return IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    }
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// Auth failure throttle per address prefix ([`throttle_key`]) and over all
/// addresses together. Bounded: the least recently seen prefix is forgotten
/// when the table is full; the global window still counts its failures, so
/// eviction never resets an attacker's budget.
pub struct AuthLimiter {
    table: LruCache<IpAddr, Failures>,
    max_failures: u32,
    window: Duration,
    pub throttled_total: u64,
    global: Failures,
    global_max: u32,
    /// Attempts refused because the global budget was spent.
    pub global_throttled_total: u64,
}

impl AuthLimiter {
    pub fn new(capacity: usize, max_failures: u32, window: Duration, now: Instant) -> Self {
        AuthLimiter {
            table: LruCache::new(capacity),
            max_failures,
            window,
            throttled_total: 0,
            global: Failures {
                count: 0,
                window_start: now,
                blocked_until: None,
            },
            global_max: crate::config::DEFAULT_AUTH_GLOBAL_MAX_FAILURES,
            global_throttled_total: 0,
        }
    }

    pub fn reconfigure(&mut self, capacity: usize, max_failures: u32, window: Duration) {
        self.table.set_capacity(capacity);
        self.max_failures = max_failures;
        self.window = window;
    }

    /// Failures from all prefixes together per window before all attempts
    /// are throttled until the window ends.
    pub fn set_global_max(&mut self, max: u32) {
        self.global_max = max.max(1);
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// `Err(retry_after)` while the address is throttled.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.global.blocked_until {
            if now < until {
                self.global_throttled_total += 1;
                self.throttled_total += 1;
                return Err(until - now);
            }
        }
        let ip = throttle_key(ip);
        if let Some(f) = self.table.get(&ip) {
            if let Some(until) = f.blocked_until {
                if now < until {
                    self.throttled_total += 1;
                    return Err(until - now);
                }
            }
        }
        Ok(())
    }

    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) {
        let window = self.window;
        let max = self.max_failures;
        bump(&mut self.global, self.global_max, window, now);
        let ip = throttle_key(ip);
        let entry = match self.table.get_mut(&ip) {
            Some(f) => f,
            None => {
                self.table.insert(
                    ip,
                    Failures {
                        count: 0,
                        window_start: now,
                        blocked_until: None,
                    },
                );
                self.table.get_mut(&ip).expect("just inserted")
            }
        };
        bump(entry, max, window, now);
    }

    /// A success forgives its prefix, not the global count: one valid
    /// client must not refill the budget of an attacker elsewhere.
    pub fn record_success(&mut self, ip: IpAddr) {
        self.table.remove(&throttle_key(ip));
    }
}

fn bump(entry: &mut Failures, max: u32, window: Duration, now: Instant) {
    if now.duration_since(entry.window_start) > window {
        entry.count = 0;
        entry.window_start = now;
        entry.blocked_until = None;
    }
    entry.count = entry.count.saturating_add(1);
    if entry.count >= max {
        entry.blocked_until = Some(now + window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_constant_time_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn test_check() {
        let s = Secrets {
            token: Some("t0k".into()),
            password: Some("pw".into()),
            token_origin: String::new(),
        };
        assert_eq!(check(&s, Some("t0k"), None), Ok(()));
        assert_eq!(check(&s, None, Some("pw")), Ok(()));
        assert_eq!(check(&s, Some("bad"), None), Err(AuthFailure::Mismatch));
        assert_eq!(check(&s, None, None), Err(AuthFailure::Missing));
    }

    #[test]
    fn test_limiter_throttles_then_forgives() {
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mut l = AuthLimiter::new(4, 3, Duration::from_secs(60), t0);
        for _ in 0..2 {
            l.record_failure(ip, t0);
        }
        assert!(l.check(ip, t0).is_ok());
        l.record_failure(ip, t0);
        let retry = l.check(ip, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(retry, Duration::from_secs(50));
        assert!(l.check(ip, t0 + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn test_limiter_is_bounded() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(2, 1, Duration::from_secs(60), t0);
        for i in 0..10u8 {
            l.record_failure(IpAddr::from([10, 0, i, 1]), t0);
        }
        assert_eq!(l.len(), 2);
    }

    /// The old limiter keyed the exact address: rotating through 127/8 gave
    /// 676 guesses in 0.4 s. Loopback is one key, IPv4 a /24, IPv6 a /64.
    #[test]
    fn test_limiter_keys_prefixes_not_addresses() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(64, 5, Duration::from_secs(60), t0);
        let mut admitted = 0;
        for i in 0..200u8 {
            let ip = IpAddr::from([127, i, 1, i.wrapping_mul(7)]);
            if l.check(ip, t0).is_ok() {
                admitted += 1;
                l.record_failure(ip, t0);
            }
        }
        assert_eq!(admitted, 5, "all of 127/8 shares one budget");
        assert!(
            l.check("::1".parse().unwrap(), t0).is_err(),
            "::1 is loopback too"
        );
        assert!(l.check("::ffff:127.0.0.9".parse().unwrap(), t0).is_err());
        for i in 0..5u8 {
            l.record_failure(IpAddr::from([192, 0, 2, i]), t0);
        }
        assert!(l.check("192.0.2.200".parse().unwrap(), t0).is_err(), "/24");
        assert!(l.check("192.0.3.1".parse().unwrap(), t0).is_ok());
        for i in 0..5u16 {
            l.record_failure(IpAddr::from([0x2001, 0xdb8, 0, 1, i, 0, 0, 1]), t0);
        }
        assert!(
            l.check("2001:db8:0:1:ffff::9".parse().unwrap(), t0)
                .is_err(),
            "/64"
        );
        assert!(l.check("2001:db8:0:2::1".parse().unwrap(), t0).is_ok());
    }

    #[test]
    fn test_limiter_global_budget_survives_rotation_and_eviction() {
        let t0 = Instant::now();
        // Two tracked prefixes only: rotating prefixes evicts them all.
        let mut l = AuthLimiter::new(2, 5, Duration::from_secs(60), t0);
        l.set_global_max(20);
        let mut admitted = 0;
        for i in 0..=255u8 {
            let ip = IpAddr::from([10, i, 0, 1]);
            if l.check(ip, t0).is_ok() {
                admitted += 1;
                l.record_failure(ip, t0);
            }
        }
        assert_eq!(admitted, 20, "the global budget holds across prefixes");
        assert!(l.global_throttled_total > 0);
        // A success does not refill it; the window's end does.
        l.record_success("10.9.9.9".parse().unwrap());
        assert!(l.check("10.9.9.9".parse().unwrap(), t0).is_err());
        assert!(l
            .check("10.9.9.9".parse().unwrap(), t0 + Duration::from_secs(61))
            .is_ok());
    }

    #[test]
    fn test_generated_token_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("clawgate-auth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = resolve_secrets(None, None, &dir).unwrap();
        let token = s.token.clone().unwrap();
        assert_eq!(token.len(), 64);
        let meta = std::fs::metadata(dir.join(TOKEN_FILE)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        // A second start reads the same token.
        let again = resolve_secrets(None, None, &dir).unwrap();
        assert_eq!(again.token.unwrap(), token);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
