//! The operator console, served from the binary: no build step, no external
//! assets, strict CSP. It signs in over the gateway's own WebSocket with a
//! token typed into the page (kept in memory only): the overview (`health`),
//! approvals, history, processes, sessions, logs and coach rules.

/// `GET /`.
pub const INDEX_HTML: &str = include_str!("index.html");
/// `GET /dashboard.js`.
pub const APP_JS: &str = include_str!("dashboard.js");
/// `GET /dashboard.css`.
pub const STYLE_CSS: &str = include_str!("dashboard.css");

/// Headers of every dashboard asset: scripts only from this origin, no
/// framing (clickjacking), no referrer, no MIME sniffing. `connect-src
/// 'self'` covers the page's own `ws://` origin.
pub const SECURITY_HEADERS: &str = "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\nX-Frame-Options: DENY\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n";

/// An asset by path: (content type, body).
pub fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/" | "/index.html" => Some(("text/html; charset=utf-8", INDEX_HTML)),
        "/dashboard.js" => Some(("text/javascript; charset=utf-8", APP_JS)),
        "/dashboard.css" => Some(("text/css; charset=utf-8", STYLE_CSS)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_page_is_small_and_self_contained() {
        let total = super::INDEX_HTML.len() + super::APP_JS.len() + super::STYLE_CSS.len();
        assert!(
            total <= 60 * 1024,
            "console is {total} bytes (issue #20: at most 60 KB)"
        );
        for text in [super::INDEX_HTML, super::APP_JS, super::STYLE_CSS] {
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "external asset"
            );
        }
    }
}
