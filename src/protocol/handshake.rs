//! `connect` params (docs/protocol.md §3): shape validation, protocol negotiation
//! and scopes. Authentication itself lives in `gateway::auth`; this module only
//! turns JSON into a typed [`ConnectParams`] or a precise error.

use super::{ErrorShape, PROTOCOL_VERSION, PROTOCOL_VERSION_LEGACY};
use serde_json::{json, Map, Value};

/// Longest `client.id` / `client.mode` accepted.
pub const MAX_CLIENT_FIELD_CHARS: usize = 64;
/// Longest free-text field (version, platform, displayName...).
pub const MAX_TEXT_FIELD_CHARS: usize = 256;
/// Most scopes a connect may ask for.
pub const MAX_SCOPES: usize = 32;

pub const SCOPE_READ: &str = "operator.read";
pub const SCOPE_WRITE: &str = "operator.write";
pub const SCOPE_APPROVALS: &str = "operator.approvals";
pub const SCOPE_ADMIN: &str = "operator.admin";
pub const KNOWN_SCOPES: [&str; 4] = [SCOPE_READ, SCOPE_WRITE, SCOPE_APPROVALS, SCOPE_ADMIN];

/// Top-level connect params we accept: ours plus the ones OpenClaw's own
/// clients send, so they work unchanged.
const CONNECT_KEYS: &[&str] = &[
    "minProtocol",
    "maxProtocol",
    "client",
    "role",
    "scopes",
    "auth",
    "device",
    "caps",
    "locale",
    "userAgent",
    "commands",
    "permissions",
    "pathEnv",
    "modelCatalog",
    "computerUse",
    "workerRuns",
];
const AUTH_KEYS: &[&str] = &[
    "token",
    "password",
    "bootstrapToken",
    "deviceToken",
    "approvalRuntimeToken",
    "agentRuntimeIdentityToken",
];
const DEVICE_KEYS: &[&str] = &["id", "publicKey", "signature", "signedAt", "nonce"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Operator,
    Node,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Node => "node",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientInfo {
    pub id: String,
    pub version: String,
    pub platform: String,
    pub mode: String,
    pub display_name: Option<String>,
    pub device_family: Option<String>,
    pub instance_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceClaim {
    pub id: String,
    pub public_key: String,
    pub signature: String,
    pub signed_at: u64,
    pub nonce: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectParams {
    pub protocol: u64,
    pub client: ClientInfo,
    pub role: Role,
    /// As requested; [`grant_scopes`] decides what is granted.
    pub scopes: Option<Vec<String>>,
    pub token: Option<String>,
    pub password: Option<String>,
    pub device: Option<DeviceClaim>,
}

/// Why a connect was refused before authentication.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectError {
    /// Wrong shape: close 1008.
    Invalid(String),
    /// No common protocol version: close 1002.
    ProtocolMismatch { min: u64, max: u64 },
}

impl ConnectError {
    pub fn to_error(&self) -> ErrorShape {
        match self {
            ConnectError::Invalid(m) => ErrorShape::invalid(format!("invalid connect params: {m}"))
                .detail("INVALID_CONNECT_PARAMS", Value::Null),
            ConnectError::ProtocolMismatch { min, max } => ErrorShape::invalid("protocol mismatch")
                .detail(
                    "PROTOCOL_MISMATCH",
                    json!({"expectedProtocol": PROTOCOL_VERSION, "minProtocol": min, "maxProtocol": max}),
                ),
        }
    }
}

fn invalid(msg: impl Into<String>) -> ConnectError {
    ConnectError::Invalid(msg.into())
}

fn check_keys(
    obj: &Map<String, Value>,
    allowed: &[&str],
    prefix: &str,
) -> Result<(), ConnectError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(format!("unknown property `{prefix}{k}`"))),
        None => Ok(()),
    }
}

fn string_field(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    required: bool,
    max: usize,
) -> Result<Option<String>, ConnectError> {
    match obj.get(key) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(invalid(format!("`{path}` is required"))),
        Some(Value::String(s)) => {
            if required && s.trim().is_empty() {
                return Err(invalid(format!("`{path}` must be a non-empty string")));
            }
            if s.chars().count() > max {
                return Err(invalid(format!("`{path}` is longer than {max} characters")));
            }
            Ok(Some(s.clone()))
        }
        Some(_) => Err(invalid(format!("`{path}` must be a string"))),
    }
}

fn protocol_field(obj: &Map<String, Value>, key: &str) -> Result<u64, ConnectError> {
    match obj.get(key) {
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| invalid(format!("`{key}` must be a non-negative integer"))),
        Some(_) => Err(invalid(format!("`{key}` must be an integer"))),
        None => Err(invalid(format!("`{key}` is required"))),
    }
}

/// Validates `connect` params. Protocol negotiation happens here too: the
/// server speaks 4 and accepts 3.
pub fn parse_connect(params: Option<&Value>) -> Result<ConnectParams, ConnectError> {
    let Some(Value::Object(p)) = params else {
        return Err(invalid("`params` must be an object"));
    };
    check_keys(p, CONNECT_KEYS, "")?;
    let min = protocol_field(p, "minProtocol")?;
    let max = protocol_field(p, "maxProtocol")?;
    if min > max {
        return Err(invalid("`minProtocol` is greater than `maxProtocol`"));
    }
    let client = match p.get("client") {
        Some(Value::Object(c)) => c,
        Some(_) => return Err(invalid("`client` must be an object")),
        None => return Err(invalid("`client` is required")),
    };
    let client = ClientInfo {
        id: string_field(client, "id", "client.id", true, MAX_CLIENT_FIELD_CHARS)?
            .unwrap_or_default(),
        version: string_field(
            client,
            "version",
            "client.version",
            true,
            MAX_TEXT_FIELD_CHARS,
        )?
        .unwrap_or_default(),
        platform: string_field(
            client,
            "platform",
            "client.platform",
            true,
            MAX_TEXT_FIELD_CHARS,
        )?
        .unwrap_or_default(),
        mode: string_field(client, "mode", "client.mode", true, MAX_CLIENT_FIELD_CHARS)?
            .unwrap_or_default(),
        display_name: string_field(
            client,
            "displayName",
            "client.displayName",
            false,
            MAX_TEXT_FIELD_CHARS,
        )?,
        device_family: string_field(
            client,
            "deviceFamily",
            "client.deviceFamily",
            false,
            MAX_TEXT_FIELD_CHARS,
        )?,
        instance_id: string_field(
            client,
            "instanceId",
            "client.instanceId",
            false,
            MAX_TEXT_FIELD_CHARS,
        )?,
    };
    let role = match p.get("role") {
        None | Some(Value::Null) => Role::Operator,
        Some(Value::String(r)) if r == "operator" => Role::Operator,
        Some(Value::String(r)) if r == "node" => Role::Node,
        Some(_) => return Err(invalid("`role` must be \"operator\" or \"node\"")),
    };
    let scopes = match p.get("scopes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            if items.len() > MAX_SCOPES {
                return Err(invalid(format!(
                    "`scopes` has more than {MAX_SCOPES} entries"
                )));
            }
            let mut out = Vec::with_capacity(items.len());
            for s in items {
                match s {
                    Value::String(s) => out.push(s.clone()),
                    _ => return Err(invalid("`scopes` must be a list of strings")),
                }
            }
            Some(out)
        }
        Some(_) => return Err(invalid("`scopes` must be a list of strings")),
    };
    let (token, password) = match p.get("auth") {
        None | Some(Value::Null) => (None, None),
        Some(Value::Object(a)) => {
            check_keys(a, AUTH_KEYS, "auth.")?;
            for k in AUTH_KEYS {
                string_field(a, k, &format!("auth.{k}"), false, 4096)?;
            }
            (
                string_field(a, "token", "auth.token", false, 4096)?,
                string_field(a, "password", "auth.password", false, 4096)?,
            )
        }
        Some(_) => return Err(invalid("`auth` must be an object")),
    };
    let device = match p.get("device") {
        None | Some(Value::Null) => None,
        Some(Value::Object(d)) => {
            check_keys(d, DEVICE_KEYS, "device.")?;
            let signed_at = match d.get("signedAt") {
                Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(0),
                _ => return Err(invalid("`device.signedAt` must be a non-negative integer")),
            };
            Some(DeviceClaim {
                id: string_field(d, "id", "device.id", true, 128)?.unwrap_or_default(),
                public_key: string_field(d, "publicKey", "device.publicKey", true, 256)?
                    .unwrap_or_default(),
                signature: string_field(d, "signature", "device.signature", true, 256)?
                    .unwrap_or_default(),
                signed_at,
                nonce: string_field(d, "nonce", "device.nonce", true, 256)?.unwrap_or_default(),
            })
        }
        Some(_) => return Err(invalid("`device` must be an object")),
    };
    for (key, ok) in [
        (
            "caps",
            matches!(p.get("caps"), None | Some(Value::Null | Value::Array(_))),
        ),
        (
            "commands",
            matches!(
                p.get("commands"),
                None | Some(Value::Null | Value::Array(_))
            ),
        ),
        (
            "locale",
            matches!(p.get("locale"), None | Some(Value::Null | Value::String(_))),
        ),
        (
            "userAgent",
            matches!(
                p.get("userAgent"),
                None | Some(Value::Null | Value::String(_))
            ),
        ),
        (
            "permissions",
            matches!(
                p.get("permissions"),
                None | Some(Value::Null | Value::Object(_))
            ),
        ),
    ] {
        if !ok {
            return Err(invalid(format!("`{key}` has the wrong type")));
        }
    }
    let protocol = negotiate(min, max).ok_or(ConnectError::ProtocolMismatch { min, max })?;
    Ok(ConnectParams {
        protocol,
        client,
        role,
        scopes,
        token,
        password,
        device,
    })
}

/// The highest version we speak inside `[min, max]`.
pub fn negotiate(min: u64, max: u64) -> Option<u64> {
    [PROTOCOL_VERSION, PROTOCOL_VERSION_LEGACY]
        .into_iter()
        .find(|v| (min..=max).contains(v))
}

/// Scopes granted after valid shared auth: the known requested ones; none
/// requested means read-only. Nodes get no operator scopes.
pub fn grant_scopes(role: Role, requested: Option<&[String]>) -> Vec<String> {
    if role == Role::Node {
        return Vec::new();
    }
    match requested {
        None => vec![SCOPE_READ.to_string()],
        Some(list) => {
            let mut out: Vec<String> = Vec::new();
            for s in list {
                if KNOWN_SCOPES.contains(&s.as_str()) && !out.contains(s) {
                    out.push(s.clone());
                }
            }
            out
        }
    }
}

/// What a credential's connection gets: the scopes it asked for that the
/// credential carries (asking for admin, or for nothing, means all it
/// carries). Never more than the credential.
pub fn narrow_to(requested: &[String], asked_none: bool, carried: &[String]) -> Vec<String> {
    if asked_none || requested.iter().any(|s| s == SCOPE_ADMIN) {
        return carried.to_vec();
    }
    requested
        .iter()
        .filter(|s| carried.contains(s) || carried.iter().any(|c| c == SCOPE_ADMIN))
        .cloned()
        .collect()
}

/// Does `granted` satisfy `required`? Admin implies everything; write implies read.
pub fn scope_allows(granted: &[String], required: &str) -> bool {
    let has = |s: &str| granted.iter().any(|g| g == s);
    if has(SCOPE_ADMIN) || has(required) {
        return true;
    }
    required == SCOPE_READ && has(SCOPE_WRITE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({"minProtocol":3,"maxProtocol":4,
               "client":{"id":"cli","version":"1","platform":"linux","mode":"cli"},
               "auth":{"token":"t"}})
    }

    #[test]
    fn test_valid_connect() {
        let c = parse_connect(Some(&base())).unwrap();
        assert_eq!(c.protocol, 4);
        assert_eq!(c.role, Role::Operator);
        assert_eq!(c.token.as_deref(), Some("t"));
    }

    #[test]
    fn test_protocol_negotiation() {
        assert_eq!(negotiate(3, 3), Some(3));
        assert_eq!(negotiate(1, 9), Some(4));
        assert_eq!(negotiate(5, 6), None);
        let mut p = base();
        p["minProtocol"] = json!(1);
        p["maxProtocol"] = json!(2);
        let e = parse_connect(Some(&p)).unwrap_err();
        assert_eq!(e, ConnectError::ProtocolMismatch { min: 1, max: 2 });
        let shape = e.to_error();
        assert_eq!(shape.detail_code(), Some("PROTOCOL_MISMATCH"));
        assert_eq!(shape.details.unwrap()["expectedProtocol"], 4);
    }

    #[test]
    fn test_bad_shapes_name_the_property() {
        let cases = [
            (json!({"client":{}}), "minProtocol"),
            (json!({"minProtocol":"3","maxProtocol":4}), "minProtocol"),
            (
                {
                    let mut p = base();
                    p["client"]["id"] = json!("");
                    p
                },
                "client.id",
            ),
            (
                {
                    let mut p = base();
                    p["client"]["id"] = json!("x".repeat(65));
                    p
                },
                "client.id",
            ),
            (
                {
                    let mut p = base();
                    p["bogus"] = json!(1);
                    p
                },
                "bogus",
            ),
            (
                {
                    let mut p = base();
                    p["auth"]["tokn"] = json!("x");
                    p
                },
                "auth.tokn",
            ),
            (
                {
                    let mut p = base();
                    p["role"] = json!("root");
                    p
                },
                "role",
            ),
            (
                {
                    let mut p = base();
                    p["scopes"] = json!("operator.admin");
                    p
                },
                "scopes",
            ),
            (
                {
                    let mut p = base();
                    p["device"] = json!({"id":"x"});
                    p
                },
                "device.",
            ),
        ];
        for (p, needle) in cases {
            let e = parse_connect(Some(&p)).unwrap_err();
            let ConnectError::Invalid(msg) = e else {
                panic!("{p}")
            };
            assert!(msg.contains(needle), "{msg} should name {needle}");
        }
        assert!(parse_connect(None).is_err());
    }

    #[test]
    fn test_scopes() {
        assert_eq!(grant_scopes(Role::Operator, None), vec![SCOPE_READ]);
        let req = vec!["operator.write".to_string(), "operator.pairing".to_string()];
        assert_eq!(grant_scopes(Role::Operator, Some(&req)), vec![SCOPE_WRITE]);
        assert!(grant_scopes(Role::Node, Some(&req)).is_empty());
        let admin = vec![SCOPE_ADMIN.to_string()];
        assert!(scope_allows(&admin, SCOPE_APPROVALS));
        let write = vec![SCOPE_WRITE.to_string()];
        assert!(scope_allows(&write, SCOPE_READ));
        assert!(!scope_allows(&write, SCOPE_ADMIN));
        assert!(!scope_allows(&[], SCOPE_READ));
    }
}
