//! Base64, once for the whole crate, on `data-encoding` (already built for
//! tungstenite's handshake, so it adds nothing to the binary's dependency
//! tree). Two uses with different strictness:
//! - [`base64`]: standard alphabet with padding, for output we produce
//!   (binary process output, test signatures);
//! - [`base64_decode`]: lenient, for input others produce: standard or
//!   URL-safe alphabet, padding optional, line breaks ignored (device keys
//!   and signatures are base64url; the coach decodes whatever a command
//!   carries).

use data_encoding::{Encoding, Specification, BASE64};
use std::sync::OnceLock;

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    BASE64.encode(data)
}

/// Standard or URL-safe base64, padding optional, `\r`/`\n` ignored;
/// `None` on any other byte or an impossible length.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    static LENIENT: OnceLock<Encoding> = OnceLock::new();
    let enc = LENIENT.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols
            .push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
        spec.translate.from.push_str("-_");
        spec.translate.to.push_str("+/");
        spec.ignore.push_str("\r\n");
        spec.check_trailing_bits = false;
        spec.encoding().expect("a valid base64 specification")
    });
    enc.decode(s.trim_end_matches('=').as_bytes()).ok()
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
