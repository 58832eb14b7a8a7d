//! OAuth (token grants, the authorize redirect) and the two auth kinds of the API:
//! the developer API key on channel management, bearer access tokens everywhere else.

use std::time::Instant;

use axum::http::StatusCode;
use serde_json::json;

use crate::errors::{ApiError, ApiResult, Resp};
use crate::server::{AuthKind, Req};
use crate::state::{Shared, TokenInfo, random_hex};

/// The scopes every issued token carries.
pub const SCOPES: &[&str] = &[
    "conversations.custom_channels.read",
    "conversations.custom_channels.write",
    "conversations.read",
    "conversations.visitor_identification.tokens.create",
    "conversations.write",
    "crm.objects.contacts.read",
    "files",
    "oauth",
];

const NO_CREDENTIALS: &str = "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview";

/// Checks the request's credentials for an endpoint of the given auth kind.
pub fn check(shared: &Shared, kind: AuthKind, req: &Req) -> Result<(), ApiError> {
    let bearer = req
        .headers
        .get("authorization")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let hapikey = req.query("hapikey");
    match kind {
        AuthKind::None => Ok(()),
        AuthKind::DevKey => {
            if bearer.is_some() {
                return Err(ApiError::unauthenticated(
                    "This endpoint requires a developer API key (hapikey) and appId; OAuth access tokens are not accepted",
                ));
            }
            let config = shared.config();
            match (hapikey, req.query("appId")) {
                (Some(k), Some(a)) if k == config.developer_api_key && a == config.app_id => Ok(()),
                (Some(k), Some(_)) if k == config.developer_api_key => {
                    Err(ApiError::unauthenticated(
                        "The appId does not belong to this developer API key",
                    ))
                }
                (Some(_), None) => Err(ApiError::validation(
                    "Missing required query parameter appId",
                )),
                (Some(_), Some(_)) => Err(ApiError::unauthenticated(
                    "The API key provided is invalid. View or manage your API key here: https://app.hubspot.com/l/api-key/",
                )),
                (None, _) => Err(ApiError::unauthenticated(NO_CREDENTIALS)),
            }
        }
        AuthKind::Bearer => {
            if hapikey.is_some() {
                return Err(ApiError::unauthenticated(
                    "This API does not accept a developer API key (hapikey); use an OAuth access token",
                ));
            }
            let Some(header) = bearer else {
                return Err(ApiError::unauthenticated(NO_CREDENTIALS));
            };
            let token = match header.split_once(' ') {
                Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
                _ => return Err(ApiError::unauthenticated(NO_CREDENTIALS)),
            };
            let st = shared.state();
            let Some(info) = st.tokens.get(token) else {
                return Err(ApiError::unauthenticated(NO_CREDENTIALS));
            };
            let now = Instant::now();
            if now >= info.expires_at {
                let ago = now.duration_since(info.expires_at).as_secs();
                let mut e = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "EXPIRED_AUTHENTICATION",
                    format!("The OAuth token used to make this call expired {ago} second(s) ago."),
                );
                e.body["context"] = json!({
                    "expire time": [info.expires_at_wall.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)]
                });
                return Err(e);
            }
            Ok(())
        }
    }
}

fn issue_tokens(shared: &Shared, refresh_token: String) -> Resp {
    let config = shared.config();
    let access = format!("sim-at-{}", random_hex(24));
    {
        let mut st = shared.state();
        st.tokens.insert(
            access.clone(),
            TokenInfo {
                expires_at: Instant::now() + config.token_lifetime,
                expires_at_wall: chrono::Utc::now()
                    + chrono::Duration::from_std(config.token_lifetime)
                        .unwrap_or(chrono::Duration::zero()),
            },
        );
    }
    Resp::ok(json!({
        "token_type": "bearer",
        "refresh_token": refresh_token,
        "access_token": access,
        "expires_in": config.token_lifetime.as_secs(),
        "hub_id": config.portal_id,
        "user_id": 1001,
        "scopes": SCOPES,
    }))
}

/// `POST /oauth/v1/token` (form body): `refresh_token` and `authorization_code` grants.
pub fn token(shared: &Shared, req: &Req) -> ApiResult {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let config = shared.config();
    let grant = get("grant_type");
    if !matches!(grant, Some("refresh_token") | Some("authorization_code")) {
        return Err(ApiError::oauth(
            "BAD_GRANT_TYPE",
            "missing or unknown grant type",
            false,
        ));
    }
    if get("client_id") != Some(config.client_id.as_str()) {
        return Err(ApiError::oauth(
            "BAD_CLIENT_ID",
            "missing or unknown client id",
            false,
        ));
    }
    if get("client_secret") != Some(config.client_secret.as_str()) {
        return Err(ApiError::oauth(
            "BAD_CLIENT_SECRET",
            "missing or invalid client secret",
            false,
        ));
    }
    if grant == Some("refresh_token") {
        let Some(refresh) = get("refresh_token") else {
            return Err(ApiError::oauth(
                "BAD_REFRESH_TOKEN",
                "missing or invalid refresh token",
                true,
            ));
        };
        let refresh = refresh.to_string();
        let next = {
            let mut st = shared.state();
            if !st.refresh_tokens.contains(&refresh) {
                return Err(ApiError::oauth(
                    "BAD_REFRESH_TOKEN",
                    "missing or invalid refresh token",
                    true,
                ));
            }
            if config.rotate_refresh_token {
                st.refresh_tokens.remove(&refresh);
                let fresh = format!("sim-rt-{}", random_hex(16));
                st.refresh_tokens.insert(fresh.clone());
                fresh
            } else {
                refresh
            }
        };
        return Ok(issue_tokens(shared, next));
    }
    let Some(code) = get("code") else {
        return Err(ApiError::oauth(
            "BAD_AUTH_CODE",
            "missing or unknown auth code",
            true,
        ));
    };
    let redirect = get("redirect_uri").unwrap_or("");
    let refresh = {
        let mut st = shared.state();
        let Some(issued_for) = st.auth_codes.get(code).cloned() else {
            return Err(ApiError::oauth(
                "BAD_AUTH_CODE",
                "missing or unknown auth code",
                true,
            ));
        };
        if issued_for != redirect {
            return Err(ApiError::oauth(
                "BAD_REDIRECT_URI",
                "redirect_uri does not match the redirect_uri the auth code was issued for",
                false,
            ));
        }
        st.auth_codes.remove(code);
        let fresh = format!("sim-rt-{}", random_hex(16));
        st.refresh_tokens.insert(fresh.clone());
        fresh
    };
    Ok(issue_tokens(shared, refresh))
}

/// Issues an authorization code for a redirect URI (what the consent screen redirects with).
pub fn issue_auth_code(shared: &Shared, redirect_uri: &str) -> String {
    let code = format!("sim-code-{}", random_hex(12));
    shared
        .state()
        .auth_codes
        .insert(code.clone(), redirect_uri.to_string());
    code
}

/// `GET /oauth/authorize?client_id&redirect_uri&scope[&state]`: the consent screen, already
/// consented: 302 to the redirect URI with `code` (and `state`). The redirect URI must be registered.
pub fn authorize(shared: &Shared, req: &Req) -> ApiResult {
    let config = shared.config();
    if req.query("client_id") != Some(config.client_id.as_str()) {
        return Err(ApiError::validation("Unknown client_id"));
    }
    let Some(redirect) = req.query("redirect_uri") else {
        return Err(ApiError::validation("Missing redirect_uri"));
    };
    if !config.redirect_uris.iter().any(|r| r == redirect) {
        return Err(ApiError::validation(
            "redirect_uri does not match any redirect URL of the app",
        ));
    }
    let scopes = req.query("scope").unwrap_or("");
    if scopes.trim().is_empty() {
        return Err(ApiError::validation("Missing scope"));
    }
    if let Some(unknown) = scopes
        .split([' ', '+'])
        .filter(|s| !s.is_empty())
        .find(|s| !SCOPES.contains(s))
    {
        return Err(ApiError::validation(format!("Unknown scope {unknown}")));
    }
    let code = issue_auth_code(shared, redirect);
    let mut target =
        url::Url::parse(redirect).map_err(|_| ApiError::validation("Invalid redirect_uri"))?;
    target.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = req.query("state") {
        target.query_pairs_mut().append_pair("state", state);
    }
    Ok(Resp {
        status: StatusCode::FOUND,
        headers: vec![("location".into(), target.to_string())],
        body: vec![],
    })
}
