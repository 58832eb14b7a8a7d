//! OAuth: the refresh token is exchanged for an access token, kept in integration state with its
//! expiry and reused until shortly before it expires. One refresh per token lifetime however many
//! calls and instances run: a lease in state lets one call refresh while the others wait for its
//! result. A refresh token that HubSpot rotates is kept.

use alloc::{borrow::ToOwned, format, string::String, vec};

use crate::error::{HitlError, Result};
use crate::fetch::Method;
use crate::hubspot::{ApiError, Auth, Body, Call, HubSpot, parse_answer, undecodable};
use crate::json::{FieldError, FromJson, Value, opt_number, opt_string, string};
use crate::platform::{info, now_ms, register_secret, sleep_ms};
use crate::state::{self, OAUTH, OAUTH_LOCK, Scope, TokenState};

/// HubSpot's token endpoint (v1 is announced to end on 2027-02-16: change it here only).
pub const TOKEN_PATH: &str = "/oauth/v1/token";
/// How long a refresh lease lasts (a crashed refresher blocks others at most this long).
const LEASE_MS: u64 = 30_000;
/// How long a call waits for another call's refresh before giving up.
const WAIT_FOR_OTHER_MS: u64 = 30_000;

/// The token endpoint's answer.
#[derive(Debug)]
struct TokenAnswer {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
    hub_id: Option<u64>,
}

impl FromJson for TokenAnswer {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        Ok(TokenAnswer {
            access_token: string(v, "access_token")?,
            refresh_token: opt_string(v, "refresh_token")?,
            expires_in: opt_number(v, "expires_in")?,
            hub_id: opt_number(v, "hub_id")?,
        })
    }
}

/// A usable access token: the cached one while it is fresh, else a refreshed one.
pub fn access_token(client: &HubSpot) -> Result<String> {
    Ok(current(client)?.access_token)
}

/// The current token record (refreshing when needed), which also tells the portal id.
pub fn current(client: &HubSpot) -> Result<TokenState> {
    let id = client.integration_id;
    let fingerprint = client.config.oauth_fingerprint();
    let deadline = now_ms() + WAIT_FOR_OTHER_MS;
    loop {
        if let Some(token) = state::get::<TokenState>(Scope::Integration, id, OAUTH)?
            && token.fingerprint == fingerprint
            && token.is_fresh(now_ms())
        {
            register_secret(&token.access_token);
            return Ok(token);
        }
        if let Some(owner) = state::try_lease(Scope::Integration, id, OAUTH_LOCK, LEASE_MS) {
            let outcome = refresh(client, &fingerprint);
            state::release_lease(Scope::Integration, id, OAUTH_LOCK, &owner);
            return outcome;
        }
        if now_ms() > deadline {
            return Err(HitlError::Internal(
                "timed out waiting for another call's token refresh".into(),
            ));
        }
        sleep_ms(50);
    }
}

/// Forgets `token` if it is still the cached one (HubSpot refused it), so the next call refreshes.
pub fn invalidate(client: &HubSpot, token: &str) {
    let id = client.integration_id;
    if let Some(raw) = state::get_raw(Scope::Integration, id, OAUTH)
        && state::decode::<TokenState>(OAUTH, &raw).is_ok_and(|t| t.access_token == token)
    {
        state::swap(Scope::Integration, id, OAUTH, Some(&raw), None);
    }
}

/// Exchanges the refresh token (a rotated one when HubSpot gave us one) for a new access token.
fn refresh(client: &HubSpot, fingerprint: &str) -> Result<TokenState> {
    let config = client.config;
    let previous = state::get::<TokenState>(Scope::Integration, client.integration_id, OAUTH)?
        .filter(|t| t.fingerprint == fingerprint);
    let refresh_token = previous
        .as_ref()
        .and_then(|t| t.refresh_token.clone())
        .unwrap_or_else(|| config.refresh_token.clone());
    register_secret(&refresh_token);
    let call = Call {
        method: Method::Post,
        path: TOKEN_PATH.to_owned(),
        auth: Auth::None,
        body: Body::Form(vec![
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", config.client_id.clone()),
            ("client_secret", config.client_secret.clone()),
            ("refresh_token", refresh_token.clone()),
        ]),
        idempotent: true,
        what: "refresh access token",
    };
    let response = client.send(&call)?;
    if !response.is_success() {
        return Err(refusal(&ApiError::parse(&response), response.status));
    }
    let body = parse_answer(&response, call.what)?;
    let answer =
        TokenAnswer::from_json(&body).map_err(|e| undecodable(call.what, response.status, &e))?;
    register_secret(&answer.access_token);
    let lifetime_ms = answer.expires_in.unwrap_or(1800).saturating_mul(1000);
    let rotated = answer
        .refresh_token
        .filter(|r| !r.is_empty() && *r != config.refresh_token);
    if let Some(r) = &rotated {
        register_secret(r);
    }
    let token = TokenState {
        fingerprint: fingerprint.to_owned(),
        access_token: answer.access_token,
        obtained_at_ms: now_ms(),
        expires_at_ms: now_ms() + lifetime_ms,
        refresh_token: rotated.or_else(|| previous.and_then(|p| p.refresh_token)),
        hub_id: answer.hub_id,
    };
    state::set(Scope::Integration, client.integration_id, OAUTH, &token)?;
    info(&format!(
        "access token refreshed, valid for {} s",
        lifetime_ms / 1000
    ));
    Ok(token)
}

/// Says which credential HubSpot refused and what to do.
fn refusal(api: &ApiError, status: u16) -> HitlError {
    let code = api
        .status
        .as_deref()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let error = api.error.as_deref().unwrap_or_default();
    let summary = api.summary();
    if code.contains("CLIENT_ID") || error == "invalid_client" && code.is_empty() {
        HitlError::InvalidConfiguration(format!(
            "`clientId` was refused by HubSpot ({summary}): copy the client id from the app's Auth page"
        ))
    } else if code.contains("CLIENT_SECRET") {
        HitlError::InvalidConfiguration(format!(
            "`clientSecret` was refused by HubSpot ({summary}): copy the client secret from the app's Auth page"
        ))
    } else if code.contains("REFRESH_TOKEN") || error == "invalid_grant" {
        HitlError::Unauthorized(format!(
            "`refreshToken` was refused by HubSpot ({summary}): re-authorise the app (hitl-host setup) and save the new refresh token"
        ))
    } else if status == 429 {
        HitlError::RateLimited {
            retry_after_ms: None,
            message: format!("refresh access token: {summary}"),
        }
    } else {
        HitlError::Unauthorized(format!(
            "refresh access token: HubSpot refused the OAuth credentials ({summary}); check `clientId`, `clientSecret` and `refreshToken`"
        ))
    }
}
