//! The OpenClaw gateway protocol as bytes and types: inbound frames become a
//! [`Request`] or a precise [`FrameError`]; replies and events are serialized
//! here. Nothing in this module knows about sockets or handlers.

pub mod device;
pub mod handshake;

use serde::Serialize;
use serde_json::{Map, Value};

/// The protocol version we speak; 3 is accepted as well.
pub const PROTOCOL_VERSION: u64 = 4;
pub const PROTOCOL_VERSION_LEGACY: u64 = 3;
/// `res.id` used when a bad frame had no usable id.
pub const INVALID_ID: &str = "invalid";

/// The top-level error codes of docs/protocol.md §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorCode {
    #[serde(rename = "INVALID_REQUEST")]
    InvalidRequest,
    #[serde(rename = "FORBIDDEN")]
    Forbidden,
    #[serde(rename = "NOT_PAIRED")]
    NotPaired,
    #[serde(rename = "UNAVAILABLE")]
    Unavailable,
    #[serde(rename = "APPROVAL_NOT_FOUND")]
    ApprovalNotFound,
}

/// `error` of a failed `res`. `code` and `message` are never empty: OpenClaw
/// clients drop an error without them and then time out.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorShape {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorShape {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        ErrorShape {
            code,
            message: if message.is_empty() {
                "error".into()
            } else {
                message
            },
            details: None,
            retryable: None,
            retry_after_ms: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ErrorShape::new(ErrorCode::InvalidRequest, message)
    }

    /// Adds `details.code` (and any other detail fields given as an object).
    pub fn detail(mut self, code: &str, extra: Value) -> Self {
        let mut map = match extra {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        map.insert("code".into(), Value::String(code.into()));
        self.details = Some(Value::Object(map));
        self
    }

    pub fn retry_after(mut self, ms: u64) -> Self {
        self.retryable = Some(true);
        self.retry_after_ms = Some(ms);
        self
    }

    /// `details.code`, for tests and logs.
    pub fn detail_code(&self) -> Option<&str> {
        self.details.as_ref()?.get("code")?.as_str()
    }
}

/// A `req` frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: String,
    pub method: String,
    pub params: Option<Value>,
}

/// An inbound frame that is not a usable request. `id` is the frame's own id
/// when it had a string one, so the error `res` can be matched by the client.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameError {
    pub id: Option<String>,
    pub message: String,
}

impl FrameError {
    fn new(id: Option<String>, message: impl Into<String>) -> Self {
        FrameError {
            id,
            message: message.into(),
        }
    }

    pub fn to_error(&self) -> ErrorShape {
        ErrorShape::invalid(self.message.clone()).detail("INVALID_FRAME", Value::Null)
    }

    pub fn reply_id(&self) -> &str {
        self.id.as_deref().unwrap_or(INVALID_ID)
    }
}

/// Parses one text (or UTF-8 binary) message into a request.
pub fn parse_request(text: &str) -> Result<Request, FrameError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| FrameError::new(None, format!("invalid frame: not valid JSON ({e})")))?;
    let Value::Object(mut obj) = value else {
        return Err(FrameError::new(
            None,
            "invalid frame: expected a JSON object",
        ));
    };
    let id = match obj.get("id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let ty = match obj.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(_) => {
            return Err(FrameError::new(
                id,
                "invalid frame: `type` must be a string",
            ))
        }
        None => return Err(FrameError::new(id, "invalid frame: missing `type`")),
    };
    if ty != "req" {
        return Err(FrameError::new(
            id,
            format!("invalid frame: expected type \"req\", got \"{ty}\""),
        ));
    }
    if let Some(key) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "id" | "method" | "params"))
    {
        return Err(FrameError::new(
            id,
            format!("invalid frame: unknown property `{key}`"),
        ));
    }
    let Some(id) = id else {
        return Err(FrameError::new(
            None,
            "invalid frame: `id` must be a non-empty string",
        ));
    };
    let method = match obj.remove("method") {
        Some(Value::String(m)) if !m.is_empty() => m,
        _ => {
            return Err(FrameError::new(
                Some(id),
                "invalid frame: `method` must be a non-empty string",
            ))
        }
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => None,
        Some(p) => Some(p),
    };
    Ok(Request { id, method, params })
}

/// `{"type":"res","id":..,"ok":true,"payload":..}`
pub fn res_ok(id: &str, payload: &Value) -> String {
    #[derive(Serialize)]
    struct Res<'a> {
        #[serde(rename = "type")]
        ty: &'static str,
        id: &'a str,
        ok: bool,
        payload: &'a Value,
    }
    serde_json::to_string(&Res {
        ty: "res",
        id,
        ok: true,
        payload,
    })
    .expect("serializing a Value cannot fail")
}

/// `res_ok` for a payload that is already JSON text (not re-parsed).
pub fn res_ok_raw(id: &str, payload_json: &str) -> String {
    let id = serde_json::to_string(id).expect("a string serializes");
    let mut s = String::with_capacity(payload_json.len() + id.len() + 40);
    s.push_str(r#"{"type":"res","id":"#);
    s.push_str(&id);
    s.push_str(r#","ok":true,"payload":"#);
    s.push_str(payload_json);
    s.push('}');
    s
}

/// `{"type":"res","id":..,"ok":false,"error":{..}}`
pub fn res_err(id: &str, error: &ErrorShape) -> String {
    #[derive(Serialize)]
    struct Res<'a> {
        #[serde(rename = "type")]
        ty: &'static str,
        id: &'a str,
        ok: bool,
        error: &'a ErrorShape,
    }
    serde_json::to_string(&Res {
        ty: "res",
        id,
        ok: false,
        error,
    })
    .expect("serializing an error cannot fail")
}

/// `stateVersion` carried by state events and the hello snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct StateVersion {
    pub presence: u64,
    pub health: u64,
}

/// An event whose payload was serialized once. The frame's body up to the
/// payload (and `stateVersion`) is shared by every recipient; only the tail
/// `,"seq":N}` is per connection, so a broadcast to N clients is one JSON
/// serialization and no per-recipient allocation.
#[derive(Debug, Clone)]
pub struct SharedEvent {
    pub name: &'static str,
    prefix: bytes::Bytes,
    /// Where the payload sits in `prefix` (kept for `with_state_version`).
    payload: std::ops::Range<usize>,
    pub state_version: Option<StateVersion>,
}

const EVENT_HEAD: &str = r#"{"type":"event","event":""#;
const PAYLOAD_HEAD: &str = r#"","payload":"#;

impl SharedEvent {
    /// `payload` is anything serializable: a `Value`, or a struct of borrowed
    /// fields for hot events (no copy of the message text into a `Value`).
    /// It is serialized once, straight into the shared frame body.
    pub fn new<T: serde::Serialize + ?Sized>(name: &'static str, payload: &T) -> Self {
        let mut body = Vec::with_capacity(EVENT_HEAD.len() + name.len() + PAYLOAD_HEAD.len() + 128);
        body.extend_from_slice(EVENT_HEAD.as_bytes());
        body.extend_from_slice(name.as_bytes()); // our own constants: no escaping needed
        body.extend_from_slice(PAYLOAD_HEAD.as_bytes());
        let start = body.len();
        serde_json::to_writer(&mut body, payload)
            .expect("payloads are maps of strings and numbers");
        let end = body.len();
        SharedEvent {
            name,
            prefix: bytes::Bytes::from(body),
            payload: start..end,
            state_version: None,
        }
    }

    pub fn with_state_version(mut self, sv: StateVersion) -> Self {
        // Everything up to the payload's end, then the (new) stateVersion.
        let mut body = Vec::with_capacity(self.payload.end + 64);
        body.extend_from_slice(&self.prefix[..self.payload.end]);
        body.extend_from_slice(
            format!(
                r#","stateVersion":{{"presence":{},"health":{}}}"#,
                sv.presence, sv.health
            )
            .as_bytes(),
        );
        self.state_version = Some(sv);
        self.prefix = bytes::Bytes::from(body);
        self
    }

    /// The shared part of every recipient's frame.
    pub fn prefix(&self) -> bytes::Bytes {
        self.prefix.clone()
    }

    /// One recipient's tail: `,"seq":N}`, or `}` without a seq
    /// (`connect.challenge`). Written into `buf`; returns its length.
    pub fn tail(seq: Option<u64>, buf: &mut [u8; 28]) -> usize {
        const HEAD: &[u8] = br#","seq":"#;
        let Some(seq) = seq else {
            buf[0] = b'}';
            return 1;
        };
        // itoa, not `write!`: this runs once per recipient of every event,
        // and the formatting machinery cost 2.5 % of the loop in the chat
        // benchmark. 7 + at most 20 digits + 1 = 28 bytes.
        let mut digits = itoa::Buffer::new();
        let d = digits.format(seq).as_bytes();
        buf[..HEAD.len()].copy_from_slice(HEAD);
        buf[HEAD.len()..HEAD.len() + d.len()].copy_from_slice(d);
        buf[HEAD.len() + d.len()] = b'}';
        HEAD.len() + d.len() + 1
    }

    /// The whole frame for one recipient, as text (tests, logs).
    pub fn frame(&self, seq: Option<u64>) -> String {
        let mut t = [0u8; 28];
        let n = Self::tail(seq, &mut t);
        let mut s = String::from_utf8_lossy(&self.prefix).into_owned();
        s.push_str(std::str::from_utf8(&t[..n]).unwrap_or("}"));
        s
    }
}

/// WebSocket close codes of docs/protocol.md §4.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
    pub const RESTART: u16 = 1012;
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

#[cfg(test)]
mod tests {

    #[test]
    fn test_tail_digits_match_formatting() {
        let mut b = [0u8; 28];
        for seq in [0u64, 1, 9, 10, 99, 100, 12_345, u32::MAX as u64, u64::MAX] {
            let n = SharedEvent::tail(Some(seq), &mut b);
            assert_eq!(
                std::str::from_utf8(&b[..n]).unwrap(),
                format!(r#","seq":{seq}}}"#)
            );
        }
        let n = SharedEvent::tail(None, &mut b);
        assert_eq!(&b[..n], b"}");
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn test_parse_valid_request() {
        let r = parse_request(r#"{"type":"req","id":"1","method":"health","params":{}}"#).unwrap();
        assert_eq!(r.id, "1");
        assert_eq!(r.method, "health");
        assert_eq!(r.params, Some(json!({})));
    }

    #[test]
    fn test_parse_errors_are_precise() {
        let e = parse_request("{nope").unwrap_err();
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        assert_eq!(e.reply_id(), INVALID_ID);
        let e = parse_request(r#"{"type":"event","id":"7"}"#).unwrap_err();
        assert_eq!(e.id.as_deref(), Some("7"));
        assert!(e.message.contains("\"req\""));
        let e = parse_request(r#"{"type":"req","id":"7","method":"x","extra":1}"#).unwrap_err();
        assert!(e.message.contains("`extra`"));
        let e = parse_request(r#"{"type":"req","id":"","method":"x"}"#).unwrap_err();
        assert!(e.message.contains("`id`"));
        let e = parse_request(r#"{"type":"req","id":"9","method":5}"#).unwrap_err();
        assert!(e.message.contains("`method`"));
        assert_eq!(e.reply_id(), "9");
        let e = parse_request("[1,2]").unwrap_err();
        assert!(e.message.contains("object"));
    }

    #[test]
    fn test_deep_nesting_is_refused_not_crashing() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let text = format!(r#"{{"type":"req","id":"1","method":"x","params":{deep}}}"#);
        let e = parse_request(&text).unwrap_err();
        assert!(e.message.contains("recursion"), "{}", e.message);
    }

    #[test]
    fn test_error_shape_serialization() {
        let e = ErrorShape::new(ErrorCode::Unavailable, "full")
            .detail("CONNECTION_LIMIT", json!({"limit": 50}))
            .retry_after(1000);
        let v: Value = serde_json::from_str(&res_err("a", &e)).unwrap();
        assert_eq!(
            v,
            json!({"type":"res","id":"a","ok":false,"error":{"code":"UNAVAILABLE","message":"full",
                "details":{"code":"CONNECTION_LIMIT","limit":50},"retryable":true,"retryAfterMs":1000}})
        );
        assert_eq!(ErrorShape::invalid("").message, "error");
    }

    #[test]
    fn test_res_ok_raw_matches_res_ok() {
        let payload = json!({"a": [1, 2], "b": "x\"y"});
        let raw = res_ok_raw("id\"1", &payload.to_string());
        let a: Value = serde_json::from_str(&raw).unwrap();
        let b: Value = serde_json::from_str(&res_ok("id\"1", &payload)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn test_shared_event_frame_is_valid_json() {
        let ev = SharedEvent::new("presence", &json!({"presence":[{"a":"\"q\""}]}))
            .with_state_version(StateVersion {
                presence: 3,
                health: 1,
            });
        let v: Value = serde_json::from_str(&ev.frame(Some(12))).unwrap();
        assert_eq!(v["type"], "event");
        assert_eq!(v["seq"], 12);
        assert_eq!(v["stateVersion"]["presence"], 3);
        assert_eq!(v["payload"]["presence"][0]["a"], "\"q\"");
        let v: Value = serde_json::from_str(&ev.frame(None)).unwrap();
        assert!(v.get("seq").is_none());
    }
}
