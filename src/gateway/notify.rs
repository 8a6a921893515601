//! The loop side of approvals on a phone (`src/notify/`): a raised approval
//! queues one notification per channel, sent one at a time from the worker
//! pool behind each channel's breaker; `/approve/...` links show a
//! confirmation page (GET) and decide (POST), once.

use super::Gateway;
use crate::net::http::{self, PlainRequest};
use crate::net::ConnId;
use crate::notify::{self, Notifier, Raised};
use serde_json::Value;
use std::time::Instant;

/// File in the data dir holding the link secret (hex, mode 0600).
pub const LINK_KEY_FILE: &str = "link.key";

/// The per-gateway link secret: read, or made on first use.
pub fn load_link_key(data_dir: &std::path::Path) -> Result<Vec<u8>, String> {
    let path = data_dir.join(LINK_KEY_FILE);
    let parse = |t: &str| -> Option<Vec<u8>> {
        let t = t.trim();
        (t.len() == 2 * notify::SECRET_BYTES)
            .then(|| {
                (0..t.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&t[i..i + 2], 16).ok())
                    .collect()
            })
            .flatten()
    };
    match std::fs::read_to_string(&path) {
        Ok(t) => parse(&t).ok_or_else(|| {
            format!(
                "{}: not a {}-byte hex key",
                path.display(),
                notify::SECRET_BYTES
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let hex = super::auth::random_hex(notify::SECRET_BYTES).map_err(|e| e.to_string())?;
            std::fs::create_dir_all(data_dir).map_err(|e| e.to_string())?;
            super::auth::write_private(&path, &hex)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            parse(&hex).ok_or_else(|| "generated key unreadable".into())
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The notifier's runtime: the queue and breakers, and the link secret.
pub struct NotifyRuntime {
    pub notifier: Option<Notifier>,
    pub key: Vec<u8>,
}

impl NotifyRuntime {
    pub fn new(cfg: &crate::config::Config) -> NotifyRuntime {
        let notifier = Notifier::new(&cfg.notify);
        let key = if notifier.is_some() {
            load_link_key(&cfg.server.data_dir).unwrap_or_else(|e| {
                // Without a key no link can be checked: every link is refused.
                log::error!("approval links are off: {e}");
                Vec::new()
            })
        } else {
            Vec::new()
        };
        NotifyRuntime { notifier, key }
    }
}

impl Gateway {
    /// An approval was raised: tell the channels.
    pub(super) fn notify_raised(&mut self, a: Raised, now: Instant) {
        let Some(base) = self.cfg.server.public_url.clone() else {
            return;
        };
        let rt = &mut self.notify_rt;
        let Some(n) = rt.notifier.as_mut() else {
            return;
        };
        if rt.key.is_empty() {
            return;
        }
        n.raise(&base, &rt.key, &a);
        self.notify_send(now);
    }

    fn notify_send(&mut self, now: Instant) {
        let Some(n) = self.notify_rt.notifier.as_mut() else {
            return;
        };
        let timeout = n.timeout;
        if let Some((ch, ep, request)) = n.next(now) {
            let job = Box::new(move || {
                crate::workers::JobResult::Notify(crate::forward::post(&ep, &request, timeout))
            });
            let on_panic = crate::workers::JobResult::Notify(Err("notify job panicked".into()));
            if self.workers.submit(Some(on_panic), job).is_err() {
                let name = n.channels[ch].0.name.clone();
                log::warn!("notify {name}: worker pool busy; notification dropped");
                n.on_result(false, now);
            }
        }
    }

    pub(super) fn on_notify_result(&mut self, res: Result<u16, String>, now: Instant) {
        let Some(n) = self.notify_rt.notifier.as_mut() else {
            return;
        };
        let ok = matches!(res, Ok(200..=299));
        if !ok {
            log::warn!("approval notification failed: {res:?}");
        }
        n.on_result(ok, now);
        self.notify_send(now);
    }

    pub fn notify_stats(&self) -> Option<notify::NotifyStats> {
        self.notify_rt.notifier.as_ref().map(|n| n.stats.clone())
    }

    /// `GET|POST /approve/{id}/{decision}/{expires}/{channel}/{sig}`.
    pub(super) fn approval_link(
        &mut self,
        id: ConnId,
        req: &PlainRequest,
        now: Instant,
    ) -> Vec<u8> {
        let page = |status: u16, reason: &str, title: &str, text: &str| {
            http::response(
                status,
                reason,
                "text/html; charset=utf-8",
                &notify::result_page(title, text),
                notify::PAGE_HEADERS,
            )
        };
        let forbidden = |text: &str| page(403, "Forbidden", "Refused", text);
        if self.notify_rt.key.is_empty() {
            return forbidden("approval links are not enabled on this gateway");
        }
        let link = match notify::check_link(&self.notify_rt.key, &req.path, super::wall_ms()) {
            Ok(l) => l,
            Err(e) => {
                self.stats.http_errors += 1;
                return forbidden(e.reason());
            }
        };
        let Some(i) = self.approvals_index(&link.id) else {
            let e = self.not_pending(&link.id);
            return forbidden(&e.message);
        };
        let (view, command) = self.approval_view(i);
        let raised = raised_of(&view, &command);
        match req.method.as_str() {
            "GET" | "HEAD" => {
                let action = req.path.split('?').next().unwrap_or("");
                http::response(
                    200,
                    "OK",
                    "text/html; charset=utf-8",
                    &notify::confirm_page(&link, &raised, action),
                    notify::PAGE_HEADERS,
                )
            }
            "POST" => {
                let by = format!("link:{}", link.channel);
                match self.decide_by_link(&link.id, &link.decision, &by, id, now) {
                    Ok(()) => page(
                        200,
                        "OK",
                        if link.decision == "deny" {
                            "Denied"
                        } else {
                            "Allowed"
                        },
                        &format!("{}: {}", link.decision, raised.command),
                    ),
                    Err(e) => forbidden(&e),
                }
            }
            _ => http::response(
                405,
                "Method Not Allowed",
                "text/plain",
                "GET shows, POST decides\n",
                "Allow: GET, POST\r\n",
            ),
        }
    }
}

/// What a notification or a confirmation page says about an approval.
pub(super) fn raised_of(view: &Value, command: &str) -> Raised {
    let coach = &view["coach"];
    Raised {
        id: view["id"].as_str().unwrap_or_default().to_string(),
        command: command.to_string(),
        requester: view["requester"].as_str().unwrap_or("a client").to_string(),
        session: view["request"]["sessionKey"]
            .as_str()
            .or(view["session"].as_str())
            .unwrap_or("-")
            .to_string(),
        severity: coach["severity"].as_str().unwrap_or("?").to_string(),
        why: coach["matches"][0]["title"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        expires_ms: view["expiresAtMs"].as_u64().unwrap_or(0),
    }
}
