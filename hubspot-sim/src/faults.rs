//! Fault injection and the rate limits.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use crate::errors::{ApiError, Resp, correlation_id};
use crate::state::Shared;

/// A failure to inject, as HubSpot (or the network) produces them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The next `count` requests matching `endpoint` (None = any API endpoint) answer `status`
    /// (429 with HubSpot's RATE_LIMIT body, 5xx with an error body), with `Retry-After: secs` when given.
    FailNext {
        /// Endpoint template (`METHOD /path/{param}`), or None for any API endpoint.
        endpoint: Option<String>,
        /// The status to answer.
        status: u16,
        /// How many requests fail.
        count: usize,
        /// A `Retry-After` header value in seconds.
        retry_after_secs: Option<u64>,
    },
    /// The next `count` requests matching `endpoint` are answered only after `delay`.
    Slow {
        /// Endpoint template, or None for any API endpoint.
        endpoint: Option<String>,
        /// How long to hold each answer.
        delay: Duration,
        /// How many requests are slow.
        count: usize,
    },
    /// Every access token issued so far answers 401 EXPIRED_AUTHENTICATION.
    ExpireTokens,
    /// The refresh token is revoked: refresh answers 400 BAD_REFRESH_TOKEN; tokens answer 401.
    RevokeRefreshToken,
    /// Every webhook delivery is POSTed twice.
    DuplicateDeliveries,
    /// App-webhook events of one operator action are sent in reverse order / the batch is reordered.
    ReorderDeliveries,
}

/// A counted fault waiting for matching requests.
#[derive(Clone, Debug)]
pub enum FaultSlot {
    /// See `Fault::FailNext`.
    Fail {
        /// Normalised endpoint template or None.
        endpoint: Option<String>,
        /// Status to answer.
        status: u16,
        /// Requests left.
        left: usize,
        /// Retry-After seconds.
        retry_after_secs: Option<u64>,
    },
    /// See `Fault::Slow`.
    Slow {
        /// Normalised endpoint template or None.
        endpoint: Option<String>,
        /// Delay.
        delay: Duration,
        /// Requests left.
        left: usize,
    },
}

/// Normalises an endpoint name: upper-case method, no trailing slash on the path.
pub fn normalize_endpoint(endpoint: &str) -> String {
    let (method, path) = endpoint.trim().split_once(' ').unwrap_or(("", endpoint));
    let path = path.trim();
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    format!("{} {}", method.to_uppercase(), path)
}

/// Applies a fault now.
pub fn inject(shared: &Shared, fault: Fault) {
    let mut st = shared.state();
    match fault {
        Fault::FailNext {
            endpoint,
            status,
            count,
            retry_after_secs,
        } => st.faults.push(FaultSlot::Fail {
            endpoint: endpoint.map(|e| normalize_endpoint(&e)),
            status,
            left: count,
            retry_after_secs,
        }),
        Fault::Slow {
            endpoint,
            delay,
            count,
        } => st.faults.push(FaultSlot::Slow {
            endpoint: endpoint.map(|e| normalize_endpoint(&e)),
            delay,
            left: count,
        }),
        Fault::ExpireTokens => {
            let now = Instant::now();
            let wall = chrono::Utc::now();
            for t in st.tokens.values_mut() {
                t.expires_at = now;
                t.expires_at_wall = wall;
            }
        }
        Fault::RevokeRefreshToken => {
            st.refresh_tokens.clear();
            st.tokens.clear();
        }
        Fault::DuplicateDeliveries => st.duplicate_deliveries = true,
        Fault::ReorderDeliveries => st.reorder_deliveries = true,
    }
}

/// Removes every pending fault (issued tokens stay as they are).
pub fn clear(shared: &Shared) {
    let mut st = shared.state();
    st.faults.clear();
    st.duplicate_deliveries = false;
    st.reorder_deliveries = false;
}

/// Takes one use of a `Slow` fault matching the endpoint and returns its delay.
pub fn take_slow(shared: &Shared, endpoint: &str) -> Option<Duration> {
    let mut st = shared.state();
    let mut found = None;
    for f in st.faults.iter_mut() {
        if let FaultSlot::Slow {
            endpoint: e,
            delay,
            left,
        } = f
            && *left > 0
            && e.as_deref().is_none_or(|e| e == endpoint)
        {
            *left -= 1;
            found = Some(*delay);
            break;
        }
    }
    st.faults.retain(|f| {
        !matches!(
            f,
            FaultSlot::Slow { left: 0, .. } | FaultSlot::Fail { left: 0, .. }
        )
    });
    found
}

/// Takes one use of a `FailNext` fault matching the endpoint and returns the answer to give.
pub fn take_failure(shared: &Shared, endpoint: &str) -> Option<Resp> {
    let mut st = shared.state();
    let mut found = None;
    for f in st.faults.iter_mut() {
        if let FaultSlot::Fail {
            endpoint: e,
            status,
            left,
            retry_after_secs,
        } = f
            && *left > 0
            && e.as_deref().is_none_or(|e| e == endpoint)
        {
            *left -= 1;
            found = Some((*status, *retry_after_secs));
            break;
        }
    }
    st.faults.retain(|f| {
        !matches!(
            f,
            FaultSlot::Slow { left: 0, .. } | FaultSlot::Fail { left: 0, .. }
        )
    });
    drop(st);
    let (status, retry_after) = found?;
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let resp = if status == 429 {
        ApiError::rate_limited("TEN_SECONDLY_ROLLING").into_resp()
    } else {
        let message = match status {
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            s if s >= 500 => "internal error",
            _ => "injected failure",
        };
        Resp::json(
            code,
            &json!({
                "status": "error",
                "message": message,
                "correlationId": correlation_id(),
                "category": if status >= 500 { "INTERNAL_ERROR" } else { "VALIDATION_ERROR" },
            }),
        )
    };
    Some(match retry_after {
        Some(s) => resp.with_header("retry-after", s.to_string()),
        None => resp,
    })
}

/// Which rate-limit window a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// Not limited (OAuth, files served, operator endpoints).
    None,
    /// The installing account's 110 / 10 s.
    Portal,
    /// The developer account's window (hapikey calls).
    Developer,
    /// The search endpoints' own per-second limit.
    Search,
}

impl Bucket {
    fn key(self) -> &'static str {
        match self {
            Bucket::None => "none",
            Bucket::Portal => "portal",
            Bucket::Developer => "developer",
            Bucket::Search => "search",
        }
    }
}

/// The answer of a rate-limit check.
#[derive(Clone, Debug)]
pub struct RateCheck {
    /// The request may go on.
    pub allowed: bool,
    /// Headers to add (`X-HubSpot-RateLimit-*`).
    pub headers: Vec<(String, String)>,
}

/// Counts a request against its bucket.
pub fn check_rate(shared: &Shared, bucket: Bucket, consume: bool) -> RateCheck {
    let config = shared.config();
    let limit = match bucket {
        Bucket::None => None,
        Bucket::Search => config.search_rate_limit,
        Bucket::Portal | Bucket::Developer => config.rate_limit,
    };
    let Some((max, interval)) = limit else {
        return RateCheck {
            allowed: true,
            headers: vec![],
        };
    };
    let now = Instant::now();
    let mut st = shared.state();
    let window = st.rate_windows.entry(bucket.key()).or_default();
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= interval)
    {
        window.pop_front();
    }
    let used = window.len() as u32;
    let allowed = used < max;
    if allowed && consume {
        window.push_back(now);
    }
    let remaining = max.saturating_sub(window.len() as u32);
    let headers = if bucket == Bucket::Search {
        vec![]
    } else {
        vec![
            ("x-hubspot-ratelimit-max".to_string(), max.to_string()),
            (
                "x-hubspot-ratelimit-remaining".to_string(),
                remaining.to_string(),
            ),
            (
                "x-hubspot-ratelimit-interval-milliseconds".to_string(),
                interval.as_millis().to_string(),
            ),
        ]
    };
    RateCheck { allowed, headers }
}
