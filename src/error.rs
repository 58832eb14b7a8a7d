//! The component's error type, and its mapping to the WIT `error` variant.
//!
//! Every message is safe to log: texts that carry anything from outside pass through
//! [`platform::redact`](crate::platform::redact), which blanks the configuration's secrets.

use alloc::{format, string::String};
use core::fmt;

use crate::bindings::hitl::integration::types as wit;
use crate::platform::redact;

/// Why an operation failed, in the terms the WIT `error` variant offers a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HitlError {
    /// The configuration is unusable; names the field.
    InvalidConfiguration(String),
    /// An argument is unusable; says which.
    InvalidInput(String),
    /// Something the call needs does not exist.
    NotFound(String),
    /// HubSpot refused our credentials.
    Unauthorized(String),
    /// HubSpot is throttling us.
    RateLimited {
        /// How long HubSpot asked us to wait, in milliseconds.
        retry_after_ms: Option<u64>,
        /// What was being done.
        message: String,
    },
    /// HubSpot failed or could not be reached (status 0: no answer).
    Upstream {
        /// The HTTP status, or 0 when no answer came.
        status: u16,
        /// What went wrong.
        message: String,
    },
    /// A bug or a host failure.
    Internal(String),
}

/// The component's result type.
pub type Result<T> = core::result::Result<T, HitlError>;

impl HitlError {
    /// Prefixes the message with what was being done, e.g. `"publish message: ..."`.
    pub fn context(self, what: &str) -> Self {
        let add = |m: String| format!("{what}: {m}");
        match self {
            Self::InvalidConfiguration(m) => Self::InvalidConfiguration(add(m)),
            Self::InvalidInput(m) => Self::InvalidInput(add(m)),
            Self::NotFound(m) => Self::NotFound(add(m)),
            Self::Unauthorized(m) => Self::Unauthorized(add(m)),
            Self::RateLimited {
                retry_after_ms,
                message,
            } => Self::RateLimited {
                retry_after_ms,
                message: add(message),
            },
            Self::Upstream { status, message } => Self::Upstream {
                status,
                message: add(message),
            },
            Self::Internal(m) => Self::Internal(add(m)),
        }
    }

    /// Whether a later retry of the same call may succeed (webhook handling answers 5xx then).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Upstream { .. } | Self::Internal(_)
        )
    }

    /// The message without the variant.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidConfiguration(m)
            | Self::InvalidInput(m)
            | Self::NotFound(m)
            | Self::Unauthorized(m)
            | Self::Internal(m) => m,
            Self::RateLimited { message, .. } | Self::Upstream { message, .. } => message,
        }
    }
}

impl fmt::Display for HitlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::InvalidConfiguration(_) => "invalid configuration",
            Self::InvalidInput(_) => "invalid input",
            Self::NotFound(_) => "not found",
            Self::Unauthorized(_) => "unauthorized",
            Self::RateLimited { .. } => "rate limited",
            Self::Upstream { status, .. } => {
                return write!(f, "upstream {status}: {}", self.message());
            }
            Self::Internal(_) => "internal",
        };
        write!(f, "{kind}: {}", self.message())
    }
}

impl core::error::Error for HitlError {}

impl From<HitlError> for wit::Error {
    fn from(e: HitlError) -> Self {
        match e {
            HitlError::InvalidConfiguration(m) => wit::Error::InvalidConfiguration(redact(&m)),
            HitlError::InvalidInput(m) => wit::Error::InvalidInput(redact(&m)),
            HitlError::NotFound(m) => wit::Error::NotFound(redact(&m)),
            HitlError::Unauthorized(m) => wit::Error::Unauthorized(redact(&m)),
            HitlError::RateLimited {
                retry_after_ms,
                message,
            } => wit::Error::RateLimited(wit::RateLimit {
                retry_after_ms,
                message: redact(&message),
            }),
            HitlError::Upstream { status, message } => wit::Error::Upstream(wit::UpstreamError {
                status,
                message: redact(&message),
            }),
            HitlError::Internal(m) => wit::Error::Internal(redact(&m)),
        }
    }
}

impl From<crate::json::SyntaxError> for HitlError {
    fn from(e: crate::json::SyntaxError) -> Self {
        HitlError::Internal(format!("JSON: {e}"))
    }
}

impl From<crate::json::FieldError> for HitlError {
    fn from(e: crate::json::FieldError) -> Self {
        HitlError::Internal(format!("JSON: {e}"))
    }
}
