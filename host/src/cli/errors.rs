//! Turning the component's errors into messages that say what to do.

use std::path::Path;

use hitl_host::HitlError;
use hitl_host::types::{RateLimit, UpstreamError};

/// The error's kind as the WIT names it (`invalid-configuration`, ...).
pub fn kind(error: &HitlError) -> &'static str {
    match error {
        HitlError::InvalidConfiguration(_) => "invalid-configuration",
        HitlError::InvalidInput(_) => "invalid-input",
        HitlError::NotFound(_) => "not-found",
        HitlError::Unauthorized(_) => "unauthorized",
        HitlError::RateLimited(_) => "rate-limited",
        HitlError::Upstream(_) => "upstream",
        HitlError::Internal(_) => "internal",
    }
}

/// The error's own text (the component keeps secrets out of it).
pub fn message(error: &HitlError) -> String {
    match error {
        HitlError::InvalidConfiguration(text)
        | HitlError::InvalidInput(text)
        | HitlError::NotFound(text)
        | HitlError::Unauthorized(text)
        | HitlError::Internal(text) => text.clone(),
        HitlError::RateLimited(RateLimit {
            retry_after_ms,
            message,
        }) => match retry_after_ms {
            Some(ms) => format!("{message} (retry in {} s)", ms.div_ceil(1000)),
            None => message.clone(),
        },
        HitlError::Upstream(UpstreamError { status, message }) => match status {
            0 => format!("{message} (no answer from HubSpot)"),
            status => format!("{message} (HubSpot answered {status})"),
        },
    }
}

/// What `register` failing with `error` means for the config file at `config`, and the fix.
pub fn register_failure(error: &HitlError, config: &Path) -> String {
    let file = config.display();
    let what = message(error);
    match error {
        HitlError::InvalidConfiguration(_) => format!(
            "the configuration in {file} is invalid: {what}\n  fix: edit `configuration` in \
             {file}, or run `hitl-host setup --config {file}` to write it again"
        ),
        HitlError::Unauthorized(_) => format!(
            "HubSpot refused the credentials in {file}: {what}\n  fix: run `hitl-host setup \
             --config {file}` to authorise the app again (or check clientId, clientSecret and \
             developerApiKey)"
        ),
        HitlError::RateLimited(_) => {
            format!("HubSpot is throttling this app: {what}\n  fix: wait a little and try again")
        }
        HitlError::Upstream(UpstreamError { status: 0, .. }) => format!(
            "HubSpot could not be reached: {what}\n  fix: check the network, or --hubspot-base-url \
             / `hubspotBaseUrl` in {file}"
        ),
        HitlError::Upstream(_) => format!(
            "HubSpot failed while registering: {what}\n  fix: try again; if it persists, check \
             HubSpot's status page"
        ),
        HitlError::InvalidInput(_) | HitlError::NotFound(_) | HitlError::Internal(_) => {
            format!("register failed ({}): {what}", kind(error))
        }
    }
}
