//! Base64, once for the whole crate, on `data-encoding` (already built for
//! tungstenite's handshake, so it adds nothing to the binary's dependency
//! tree). Two uses with different strictness:
//! - [`base64`]: standard alphabet with padding, for output we produce
//!   (binary process output, test signatures);
//! - [`base64_decode`]: lenient, for input others produce: standard or
//!   URL-safe alphabet, padding optional, line breaks ignored (device keys
//!   and signatures are base64url; the coach decodes whatever a command
//!   carries).

use data_encoding::{BASE64, BASE64_NOPAD};

const SYMBOLS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn symbol_value(c: u8) -> Option<u8> {
    SYMBOLS.iter().position(|&s| s == c).map(|i| i as u8)
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    BASE64.encode(data)
}

/// Standard or URL-safe base64, padding optional, `\r`/`\n` ignored;
/// `None` on any other byte or an impossible length. The input is first
/// brought to the standard alphabet without padding, so one of
/// data-encoding's built-in encodings decodes it (a custom
/// `Specification` would link its builder in, for nothing).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut std = Vec::with_capacity(s.len());
    for &c in s.trim_end_matches('=').as_bytes() {
        match c {
            b'-' => std.push(b'+'),
            b'_' => std.push(b'/'),
            b'\r' | b'\n' => {}
            _ => std.push(c),
        }
    }
    // Trailing bits that a sloppy encoder left set are accepted, as before.
    let len = BASE64_NOPAD.decode_len(std.len()).ok()?;
    let mut out = vec![0; len];
    match BASE64_NOPAD.decode_mut(&std, &mut out) {
        Ok(n) => {
            out.truncate(n);
            Some(out)
        }
        Err(e) if e.error.kind == data_encoding::DecodeKind::Trailing => {
            // Clear the stray low bits of the last symbol (GNU base64 -d
            // ignores them too, so a payload must not slip past this way).
            let last = std.len() - 1;
            let keep = if std.len() % 4 == 2 {
                0b11_0000
            } else {
                0b11_1100
            };
            std[last] = SYMBOLS[(symbol_value(std[last])? & keep) as usize];
            let n = BASE64_NOPAD.decode_mut(&std, &mut out).ok()?;
            out.truncate(n);
            Some(out)
        }
        Err(_) => None,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_encode_pads_and_decode_takes_both_alphabets() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0x00, 0xfe, 0x80]), "/wD+gA==");
        let bytes = [0xfb, 0xff, 0xbf, 0x01];
        assert_eq!(base64_decode("+/+/AQ==").unwrap(), bytes);
        assert_eq!(base64_decode("-_-_AQ").unwrap(), bytes);
        assert_eq!(base64_decode("aWQg\nLWE=").unwrap(), b"id -a");
        assert!(base64_decode("a!b=").is_none());
        assert!(
            base64_decode("abcde").is_none(),
            "a length no encoder makes"
        );
    }
}
