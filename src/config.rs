//! The integration's configuration: parsed from the context's JSON and validated field by field, so
//! that a bad configuration is refused with `invalid-configuration` naming the field and the fix.
//!
//! The fields and their rules are the ones `integration.definition.json` declares; a test keeps the
//! two in agreement.

use alloc::{
    borrow::ToOwned,
    format,
    string::{String, ToString},
};

use crate::error::{HitlError, Result};
use crate::json::{self, Map, Value};
use crate::platform::register_secret;

/// The configuration fields, in the definition's order: (name, required, secret).
pub const FIELDS: &[(&str, bool, bool)] = &[
    ("developerApiKey", true, true),
    ("appId", true, false),
    ("clientId", true, false),
    ("clientSecret", true, true),
    ("refreshToken", true, true),
    ("helpDeskId", false, false),
    ("channelName", false, false),
];

/// The channel name used when the configuration does not give one.
pub const DEFAULT_CHANNEL_NAME: &str = "Bot handoff";

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The developer account's API key: channel management only (`hapikey`).
    pub developer_api_key: String,
    /// The public app's id (digits).
    pub app_id: String,
    /// The app's OAuth client id.
    pub client_id: String,
    /// The app's OAuth client secret; also keys webhook signatures.
    pub client_secret: String,
    /// The refresh token from the app's installation.
    pub refresh_token: String,
    /// The help desk inbox to connect; found automatically when there is exactly one.
    pub help_desk_id: Option<String>,
    /// The custom channel's name as agents see it.
    pub channel_name: String,
}

impl Config {
    /// Parses and validates the configuration JSON, registering its secrets for redaction first.
    pub fn parse(text: &str) -> Result<Config> {
        let value: Value = json::parse(text.as_bytes()).map_err(|e| {
            HitlError::InvalidConfiguration(format!("the configuration is not valid JSON ({e})"))
        })?;
        let Value::Object(map) = value else {
            return Err(invalid("", "the configuration must be a JSON object"));
        };
        for (name, _, secret) in FIELDS {
            if *secret && let Some(Value::String(s)) = map.get(name) {
                register_secret(s.trim());
            }
        }
        if let Some(unknown) = map.keys().find(|k| !FIELDS.iter().any(|(n, _, _)| n == k)) {
            return Err(invalid(
                unknown,
                "is not a configuration field of this integration",
            ));
        }
        let config = Config {
            developer_api_key: token(
                &map,
                "developerApiKey",
                "the developer API key (HubSpot developer account → Keys)",
            )?,
            app_id: digits(
                &map,
                "appId",
                "the public app's id (HubSpot developer account → Apps)",
            )?
            .ok_or_else(|| {
                missing(
                    "appId",
                    "the public app's id (HubSpot developer account → Apps)",
                )
            })?,
            client_id: token(&map, "clientId", "the app's client id (app → Auth)")?,
            client_secret: token(&map, "clientSecret", "the app's client secret (app → Auth)")?,
            refresh_token: token(
                &map,
                "refreshToken",
                "a refresh token from installing the app (hitl-host setup prints one)",
            )?,
            help_desk_id: digits(&map, "helpDeskId", "")?,
            channel_name: match map.get("channelName") {
                None | Some(Value::Null) => DEFAULT_CHANNEL_NAME.to_owned(),
                Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 100 => {
                    s.trim().to_owned()
                }
                Some(_) => {
                    return Err(invalid(
                        "channelName",
                        "must be a non-empty text of at most 100 characters",
                    ));
                }
            },
        };
        Ok(config)
    }

    /// A short fingerprint of the OAuth credentials: a changed client or refresh token invalidates
    /// the cached access token. Not reversible; never the secret itself.
    pub fn oauth_fingerprint(&self) -> String {
        fingerprint(&[&self.client_id, &self.client_secret, &self.refresh_token])
    }

    /// A short fingerprint of the developer credentials the channel belongs to.
    pub fn channel_fingerprint(&self) -> String {
        fingerprint(&[&self.developer_api_key, &self.app_id])
    }
}

/// SHA-256 over the parts, first 16 hex digits.
fn fingerprint(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn invalid(field: &str, what: &str) -> HitlError {
    if field.is_empty() {
        HitlError::InvalidConfiguration(what.to_owned())
    } else {
        HitlError::InvalidConfiguration(format!("`{field}` {what}"))
    }
}

fn missing(field: &str, hint: &str) -> HitlError {
    invalid(field, &format!("is required: {hint}"))
}

/// A required credential: a non-empty string without whitespace.
fn token(map: &Map, field: &str, hint: &str) -> Result<String> {
    match map.get(field) {
        None | Some(Value::Null) => Err(missing(field, hint)),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                Err(missing(field, hint))
            } else if s.chars().any(|c| c.is_whitespace() || c.is_control()) || s.len() > 512 {
                Err(invalid(
                    field,
                    "must be a single token without spaces (check the pasted value)",
                ))
            } else {
                Ok(s.to_owned())
            }
        }
        Some(_) => Err(invalid(field, "must be a text")),
    }
}

/// A numeric id given as digits (a JSON number is accepted too); `None` when absent.
fn digits(map: &Map, field: &str, _hint: &str) -> Result<Option<String>> {
    let text = match map.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(_) => return Err(invalid(field, "must be a numeric id")),
    };
    if text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(field, "must be a numeric id (digits only)"));
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn full() -> Value {
        serde_json::json!({
            "developerApiKey": "dev-key-123", "appId": "1234567", "clientId": "client-1",
            "clientSecret": "secret-abcdef", "refreshToken": "refresh-xyz", "helpDeskId": "42"
        })
    }

    #[test]
    fn accepts_a_complete_configuration() -> core::result::Result<(), Box<dyn core::error::Error>> {
        let c = Config::parse(&full().to_string())?;
        assert_eq!(c.app_id, "1234567");
        assert_eq!(c.help_desk_id.as_deref(), Some("42"));
        assert_eq!(c.channel_name, DEFAULT_CHANNEL_NAME);
        Ok(())
    }

    #[test]
    fn names_the_missing_or_bad_field() {
        for (field, value) in [
            ("clientSecret", Value::Null),
            ("appId", Value::String("12ab".into())),
            ("refreshToken", Value::String("  ".into())),
            ("helpDeskId", Value::String("x".into())),
            ("developerApiKey", Value::Bool(true)),
        ] {
            let mut v = full();
            v[field] = value;
            let result = Config::parse(&v.to_string());
            assert!(
                matches!(&result, Err(HitlError::InvalidConfiguration(m)) if m.contains(field)),
                "{field}: {result:?}"
            );
        }
        assert!(matches!(
            Config::parse("[1]"),
            Err(HitlError::InvalidConfiguration(_))
        ));
    }

    #[test]
    fn help_desk_id_is_optional() -> core::result::Result<(), Box<dyn core::error::Error>> {
        let mut v = full();
        v.as_object_mut()
            .ok_or("not an object")?
            .remove("helpDeskId");
        assert_eq!(Config::parse(&v.to_string())?.help_desk_id, None);
        Ok(())
    }

    #[test]
    fn refuses_unknown_fields() {
        let mut v = full();
        v["hubspotToken"] = Value::String("x".into());
        let result = Config::parse(&v.to_string());
        assert!(result.is_err_and(|e| e.message().contains("hubspotToken")));
    }
}

#[cfg(test)]
mod definition_agreement {
    use super::FIELDS;
    use serde_json::Value;

    /// `integration.definition.json` and [`FIELDS`] describe the same configuration.
    #[test]
    fn the_definition_and_the_parser_agree() -> core::result::Result<(), Box<dyn core::error::Error>>
    {
        let def: Value = serde_json::from_str(include_str!("../integration.definition.json"))?;
        let schema = &def["configuration"]["schema"];
        let props = schema["properties"].as_object().ok_or("no properties")?;
        let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
        let mut ours: Vec<&str> = FIELDS.iter().map(|(n, _, _)| *n).collect();
        names.sort_unstable();
        ours.sort_unstable();
        assert_eq!(names, ours, "the same fields");
        let texts = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        };
        let required = texts(&schema["required"]);
        let secrets = texts(&def["secrets"]);
        for (name, is_required, is_secret) in FIELDS {
            assert_eq!(
                required.iter().any(|r| r == name),
                *is_required,
                "{name} required"
            );
            assert_eq!(
                props[*name]["x-secret"].as_bool().unwrap_or(false),
                *is_secret,
                "{name} secret"
            );
            assert_eq!(
                secrets.iter().any(|s| s == name),
                *is_secret,
                "{name} in secrets"
            );
            assert!(
                props[*name]["description"]
                    .as_str()
                    .is_some_and(|d| d.len() > 20),
                "{name} described"
            );
        }
        assert_eq!(schema["additionalProperties"], Value::Bool(false));
        assert_eq!(def["version"].as_str(), Some(env!("CARGO_PKG_VERSION")));
        assert_eq!(def["name"].as_str(), Some(env!("CARGO_PKG_NAME")));
        Ok(())
    }
}
