//! Device identity on `connect` (docs/protocol.md §3): an Ed25519 signature by
//! the device's key over the connection's facts and the server's challenge
//! nonce. Pure: the caller passes the nonce it sent and the wall clock.
//!
//! Checked in this order, each with its own `details.code`: the key decodes
//! to 32 bytes (`DEVICE_PUBLIC_KEY_INVALID`), `device.id` is the hex SHA-256
//! of it (`DEVICE_ID_MISMATCH`), the nonce is this connection's challenge
//! (`DEVICE_NONCE_MISMATCH`), `signedAt` is within [`MAX_SKEW_MS`] of now
//! (`DEVICE_SIGNATURE_EXPIRED`), the signature verifies over the v3 or the
//! v2 payload (`DEVICE_SIGNATURE_INVALID`).

use super::handshake::ConnectParams;
use ed25519_compact::{PublicKey, Signature};
use sha2::{Digest, Sha256};

/// How far `signedAt` may be from the gateway's clock, either way.
pub const MAX_SKEW_MS: u64 = 10 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceError {
    PublicKeyInvalid,
    IdMismatch,
    NonceMismatch,
    Expired,
    SignatureInvalid,
}

impl DeviceError {
    pub fn code(self) -> &'static str {
        match self {
            DeviceError::PublicKeyInvalid => "DEVICE_PUBLIC_KEY_INVALID",
            DeviceError::IdMismatch => "DEVICE_ID_MISMATCH",
            DeviceError::NonceMismatch => "DEVICE_NONCE_MISMATCH",
            DeviceError::Expired => "DEVICE_SIGNATURE_EXPIRED",
            DeviceError::SignatureInvalid => "DEVICE_SIGNATURE_INVALID",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            DeviceError::PublicKeyInvalid => {
                "device identity: publicKey must be a base64url raw Ed25519 key (32 bytes)"
            }
            DeviceError::IdMismatch => {
                "device identity: device.id is not the SHA-256 of its public key"
            }
            DeviceError::NonceMismatch => {
                "device identity: nonce does not match this connection's challenge"
            }
            DeviceError::Expired => "device identity: signedAt is more than 10 minutes away",
            DeviceError::SignatureInvalid => "device identity: signature does not verify",
        }
    }
}

pub use crate::encoding::base64_decode;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The signed text, `v3` (with platform and device family, lowercased) or
/// `v2` (without them).
pub fn payload(p: &ConnectParams, version: u8) -> String {
    let d = p
        .device
        .as_ref()
        .map(|d| (d.id.as_str(), d.signed_at, d.nonce.as_str()));
    let (id, signed_at, nonce) = d.unwrap_or(("", 0, ""));
    let scopes = p.scopes.as_deref().unwrap_or(&[]).join(",");
    let mut s = format!(
        "v{version}|{id}|{}|{}|{}|{scopes}|{signed_at}|{}|{nonce}",
        p.client.id,
        p.client.mode,
        p.role.as_str(),
        p.token.as_deref().unwrap_or("")
    );
    if version >= 3 {
        s.push('|');
        s.push_str(&p.client.platform.to_lowercase());
        s.push('|');
        s.push_str(
            &p.client
                .device_family
                .as_deref()
                .unwrap_or("")
                .to_lowercase(),
        );
    }
    s
}

/// Verifies `p.device` (which must be present) against the challenge nonce
/// and the wall clock; the device id on success.
pub fn verify(p: &ConnectParams, challenge: &str, now_ms: u64) -> Result<String, DeviceError> {
    let d = p.device.as_ref().ok_or(DeviceError::PublicKeyInvalid)?;
    let raw: [u8; 32] = base64_decode(&d.public_key)
        .and_then(|k| k.try_into().ok())
        .ok_or(DeviceError::PublicKeyInvalid)?;
    let key = PublicKey::new(raw);
    let id = hex(&Sha256::digest(raw));
    if !d.id.eq_ignore_ascii_case(&id) {
        return Err(DeviceError::IdMismatch);
    }
    if challenge.is_empty() || d.nonce != challenge {
        return Err(DeviceError::NonceMismatch);
    }
    if d.signed_at.abs_diff(now_ms) > MAX_SKEW_MS {
        return Err(DeviceError::Expired);
    }
    let sig: [u8; 64] = base64_decode(&d.signature)
        .and_then(|s| s.try_into().ok())
        .ok_or(DeviceError::SignatureInvalid)?;
    let sig = Signature::new(sig);
    // The library refuses non-canonical signatures and weak (small-order)
    // keys, so a signature cannot be made to fit a key nobody holds.
    let ok = [3u8, 2]
        .iter()
        .any(|&v| key.verify(payload(p, v).as_bytes(), &sig).is_ok());
    if ok {
        Ok(id)
    } else {
        Err(DeviceError::SignatureInvalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::parse_connect;
    use ed25519_compact::{KeyPair, Seed};
    use serde_json::json;

    const NOW: u64 = 1_790_000_000_000;

    fn b64url(bytes: &[u8]) -> String {
        crate::encoding::base64(bytes)
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_string()
    }

    /// Connect params signed by `key` with payload version `v`; `edit`
    /// changes the params after signing.
    fn signed(key: &KeyPair, v: u8, edit: impl Fn(&mut serde_json::Value)) -> ConnectParams {
        let raw = *key.pk;
        let mut params = json!({
            "minProtocol": 3, "maxProtocol": 4,
            "client": {"id": "cli", "version": "1", "platform": "Linux", "mode": "cli",
                       "deviceFamily": "Desktop"},
            "role": "operator", "scopes": ["operator.read", "operator.write"],
            "auth": {"token": "tok"},
            "device": {"id": hex(&Sha256::digest(raw)), "publicKey": b64url(&raw),
                       "signature": "unsigned", "signedAt": NOW - 1000, "nonce": "n0nce"},
        });
        let p = parse_connect(Some(&params)).unwrap();
        let sig = key.sk.sign(payload(&p, v).as_bytes(), None);
        params["device"]["signature"] = json!(b64url(&sig[..]));
        edit(&mut params);
        parse_connect(Some(&params)).unwrap()
    }

    fn key(seed: u8) -> KeyPair {
        KeyPair::from_seed(Seed::new([seed; 32]))
    }

    #[test]
    fn test_v3_and_v2_signatures_verify() {
        let k = key(7);
        let p = signed(&k, 3, |_| {});
        assert!(payload(&p, 3).ends_with("|n0nce|linux|desktop"));
        assert_eq!(verify(&p, "n0nce", NOW).unwrap().len(), 64);
        let p = signed(&k, 2, |_| {});
        assert!(verify(&p, "n0nce", NOW).is_ok());
    }

    type Edit = Box<dyn Fn(&mut serde_json::Value)>;

    #[test]
    fn test_each_failure_has_its_code() {
        use DeviceError::*;
        let k = key(9);
        let none: fn() -> Edit = || Box::new(|_| {});
        let cases: Vec<(Edit, &str, u64, Result<(), DeviceError>)> = vec![
            (
                Box::new(|p| p["device"]["publicKey"] = json!("AAAA")),
                "n0nce",
                NOW,
                Err(PublicKeyInvalid),
            ),
            (
                Box::new(|p| p["device"]["id"] = json!("ab".repeat(32))),
                "n0nce",
                NOW,
                Err(IdMismatch),
            ),
            (none(), "other", NOW, Err(NonceMismatch)),
            (none(), "", NOW, Err(NonceMismatch)),
            (none(), "n0nce", NOW + MAX_SKEW_MS + 1001, Err(Expired)),
            // Exactly at the limit, the other way: still fine.
            (none(), "n0nce", NOW - 1000 - MAX_SKEW_MS, Ok(())),
            // Anything signed and changed afterwards: the signature fails.
            (
                Box::new(|p| p["scopes"] = json!(["operator.admin"])),
                "n0nce",
                NOW,
                Err(SignatureInvalid),
            ),
            (
                Box::new(|p| p["role"] = json!("node")),
                "n0nce",
                NOW,
                Err(SignatureInvalid),
            ),
            (
                Box::new(|p| p["auth"]["token"] = json!("other")),
                "n0nce",
                NOW,
                Err(SignatureInvalid),
            ),
            (
                Box::new(|p| p["client"]["platform"] = json!("darwin")),
                "n0nce",
                NOW,
                Err(SignatureInvalid),
            ),
            (
                Box::new(|p| p["device"]["signature"] = json!("!!")),
                "n0nce",
                NOW,
                Err(SignatureInvalid),
            ),
        ];
        for (i, (edit, nonce, now, want)) in cases.into_iter().enumerate() {
            let p = signed(&k, 3, edit);
            assert_eq!(verify(&p, nonce, now).map(|_| ()), want, "case {i}");
        }
        // Another device's key under this id: the id check catches it.
        let other = *key(10).pk;
        let p = signed(&k, 3, |p| p["device"]["publicKey"] = json!(b64url(&other)));
        assert_eq!(verify(&p, "n0nce", NOW), Err(IdMismatch));
    }

    #[test]
    fn test_base64_both_alphabets() {
        assert_eq!(
            base64_decode("-_8").unwrap(),
            base64_decode("+/8=").unwrap()
        );
        assert_eq!(base64_decode("aGk").unwrap(), b"hi");
        assert!(base64_decode("a b").is_none());
    }
}
