//! The config file `serve`, `register` and `setup` share.
//!
//! ```json
//! {
//!   "integrationId": "hubspot",
//!   "botId": "hitl-host",
//!   "hubspotBaseUrl": "http://127.0.0.1:8090",
//!   "publicUrl": "https://abc.example-tunnel.app",
//!   "configuration": {
//!     "developerApiKey": "…", "appId": "…", "clientId": "…", "clientSecret": "…",
//!     "refreshToken": "…", "helpDeskId": "…", "channelName": "Bot handoff"
//!   }
//! }
//! ```
//!
//! Only `configuration` is required (the component checks its fields); a file without a
//! `configuration` key is taken as the configuration object itself. The file holds secrets: `setup`
//! writes it with mode 0600 and loading warns when others may read it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::{Map, Value};

/// The integration id used when the file names none.
pub const DEFAULT_INTEGRATION_ID: &str = "hubspot";

/// The bot id used when the file names none.
pub const DEFAULT_BOT_ID: &str = "hitl-host";

/// The host keys a wrapped config file may carry besides `configuration`.
const HOST_KEYS: &[&str] = &["integrationId", "botId", "hubspotBaseUrl", "publicUrl"];

/// A loaded config file.
#[derive(Clone)]
pub struct ConfigFile {
    /// The installation's id (state of scope `integration` is kept under it; the webhook path).
    pub integration_id: String,
    /// The bot the installation belongs to.
    pub bot_id: String,
    /// Where HubSpot's API is, when not https://api.hubapi.com (a simulator).
    pub hubspot_base_url: Option<String>,
    /// The public URL a tunnel exposes for the webhook listener.
    pub public_url: Option<String>,
    /// The integration's configuration object, as the component reads it.
    pub configuration: Map<String, Value>,
}

impl std::fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The configuration holds secrets: only its field names are shown.
        f.debug_struct("ConfigFile")
            .field("integration_id", &self.integration_id)
            .field("bot_id", &self.bot_id)
            .field("hubspot_base_url", &self.hubspot_base_url)
            .field("public_url", &self.public_url)
            .field(
                "configuration",
                &self.configuration.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ConfigFile {
    /// A config file for `configuration` with the default host keys.
    pub fn new(configuration: Map<String, Value>) -> Self {
        Self {
            integration_id: DEFAULT_INTEGRATION_ID.to_owned(),
            bot_id: DEFAULT_BOT_ID.to_owned(),
            hubspot_base_url: None,
            public_url: None,
            configuration,
        }
    }

    /// Reads and checks the file at `path`; the error says what is wrong and how to fix it.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
                "the config file {} does not exist: run `hitl-host setup --config {}` to make it, \
                 or write it by hand (see `hitl-host serve --help` for the format)",
                path.display(),
                path.display()
            ),
            Err(error) => {
                return Err(anyhow!(error))
                    .with_context(|| format!("reading the config file {}", path.display()));
            }
        };
        warn_if_readable_by_others(path);
        let value: Value = serde_json::from_str(&text).map_err(|error| {
            anyhow!(
                "the config file {} is not valid JSON (line {}, column {}: {}); fix it, or run \
                 `hitl-host setup --config {}` to write it again",
                path.display(),
                error.line(),
                error.column(),
                strip_position(&error.to_string()),
                path.display()
            )
        })?;
        Self::from_value(value).map_err(|error| {
            anyhow!(
                "the config file {}: {error}; fix it, or run `hitl-host setup --config {}` to write \
                 it again",
                path.display(),
                path.display()
            )
        })
    }

    /// Reads a config file's JSON (wrapped, or the configuration object itself).
    pub fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(mut map) = value else {
            return Err("it must hold a JSON object".into());
        };
        let Some(configuration) = map.remove("configuration") else {
            return Ok(Self::new(map));
        };
        let Value::Object(configuration) = configuration else {
            return Err("`configuration` must be a JSON object".into());
        };
        if let Some(unknown) = map.keys().find(|key| !HOST_KEYS.contains(&key.as_str())) {
            return Err(format!(
                "`{unknown}` is not a key of the config file (it holds `configuration` and, \
                 optionally, {}); configuration fields go inside `configuration`",
                HOST_KEYS
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let text = |key: &str| -> Result<Option<String>, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
                Some(_) => Err(format!("`{key}` must be a text")),
            }
        };
        let integration_id =
            text("integrationId")?.unwrap_or_else(|| DEFAULT_INTEGRATION_ID.to_owned());
        if !integration_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(
                "`integrationId` may hold only letters, digits, `-`, `_` and `.` (it is part of \
                 the webhook URL)"
                    .into(),
            );
        }
        let check_url = |key: &str, value: Option<String>| -> Result<Option<String>, String> {
            match value {
                Some(url) if url::Url::parse(&url).is_err() => {
                    Err(format!("`{key}` must be an absolute URL, not {url:?}"))
                }
                other => Ok(other),
            }
        };
        Ok(Self {
            integration_id,
            bot_id: text("botId")?.unwrap_or_else(|| DEFAULT_BOT_ID.to_owned()),
            hubspot_base_url: check_url("hubspotBaseUrl", text("hubspotBaseUrl")?)?,
            public_url: check_url("publicUrl", text("publicUrl")?)?,
            configuration,
        })
    }

    /// The file's JSON (always the wrapped form).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("integrationId".into(), self.integration_id.clone().into());
        map.insert("botId".into(), self.bot_id.clone().into());
        if let Some(url) = &self.hubspot_base_url {
            map.insert("hubspotBaseUrl".into(), url.clone().into());
        }
        if let Some(url) = &self.public_url {
            map.insert("publicUrl".into(), url.clone().into());
        }
        map.insert(
            "configuration".into(),
            Value::Object(self.configuration.clone()),
        );
        Value::Object(map)
    }

    /// Writes the file atomically, readable and writable by its owner only (it holds secrets).
    pub fn write(&self, path: &Path) -> Result<()> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // A named temporary file is created with mode 0600, then renamed over the target.
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        let text =
            serde_json::to_string_pretty(&self.to_value()).context("encoding the config file")?;
        std::io::Write::write_all(&mut tmp, format!("{text}\n").as_bytes())
            .context("writing the config file")?;
        restrict_permissions(tmp.path())?;
        tmp.persist(path)
            .with_context(|| format!("saving the config file {}", path.display()))?;
        Ok(())
    }
}

/// The default state file of a config file: the same name with `.sqlite`.
pub fn default_state_path(config: &Path) -> PathBuf {
    config.with_extension("sqlite")
}

/// serde_json's message without its " at line L column C" tail (the caller reports the position).
fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} private (mode 0600)", path.display()))
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "the config file {} holds secrets but others may read it: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_configuration_is_the_configuration() {
        let file =
            ConfigFile::from_value(serde_json::json!({"appId": "1", "clientId": "c"})).unwrap();
        assert_eq!(file.integration_id, DEFAULT_INTEGRATION_ID);
        assert_eq!(file.configuration["clientId"], "c");
    }

    #[test]
    fn a_wrapped_file_round_trips() {
        let mut file = ConfigFile::new(Map::from_iter([("appId".into(), "1".into())]));
        file.integration_id = "mine".into();
        file.hubspot_base_url = Some("http://127.0.0.1:1".into());
        let again = ConfigFile::from_value(file.to_value()).unwrap();
        assert_eq!(again.integration_id, "mine");
        assert_eq!(
            again.hubspot_base_url.as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(again.configuration, file.configuration);
    }

    #[test]
    fn an_unknown_host_key_is_named() {
        let error = ConfigFile::from_value(serde_json::json!({"configuration": {}, "appId": "1"}))
            .unwrap_err();
        assert!(error.contains("`appId`"), "{error}");
    }
}
