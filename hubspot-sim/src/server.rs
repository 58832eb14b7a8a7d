//! The HTTP front: one handler that records, routes, injects faults, checks auth and rate limits,
//! then calls the endpoint's handler.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::errors::{ApiError, ApiResult, Resp};
use crate::faults::{self, Bucket};
use crate::state::{RecordedRequest, Shared};
use crate::{auth, channels, conversations, crm, files, operator};

/// How an endpoint authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// No credentials (the OAuth endpoints, served files, operator endpoints).
    None,
    /// `?hapikey=&appId=` only.
    DevKey,
    /// `Authorization: Bearer <access token>` only.
    Bearer,
}

/// Every endpoint the simulator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Route {
    OauthToken,
    OauthAuthorize,
    ChannelCreate,
    ChannelList,
    ChannelGet,
    ChannelUpdate,
    ChannelDelete,
    AccountCreate,
    AccountList,
    AccountGet,
    AccountUpdate,
    MessagePublish,
    MessageGet,
    MessageUpdate,
    InboxList,
    InboxGet,
    ThreadList,
    ThreadGet,
    ThreadUpdate,
    ThreadArchive,
    ThreadMessages,
    ThreadMessage,
    ActorGet,
    ContactGet,
    ContactSearch,
    FileUpload,
    FileGet,
    FileSignedUrl,
    FileServe,
    SimHosted,
    SimRequests,
    SimClearRequests,
    SimState,
    SimDeliveries,
    SimAddAgent,
    SimAddContact,
    SimAddInbox,
    SimAssign,
    SimUnassign,
    SimReply,
    SimClose,
    SimInjectFault,
    SimClearFaults,
    SimAppWebhookUrl,
    SimAuthCode,
}

struct RouteDef {
    method: Method,
    template: &'static str,
    route: Route,
    auth: AuthKind,
    bucket: Bucket,
}

fn routes() -> Vec<RouteDef> {
    use AuthKind as A;
    use Bucket as B;
    use Route as R;
    let d = |method: Method, template: &'static str, route, auth, bucket| RouteDef {
        method,
        template,
        route,
        auth,
        bucket,
    };
    vec![
        d(
            Method::POST,
            "/oauth/v1/token",
            R::OauthToken,
            A::None,
            B::None,
        ),
        d(
            Method::GET,
            "/oauth/authorize",
            R::OauthAuthorize,
            A::None,
            B::None,
        ),
        d(
            Method::POST,
            "/conversations/v3/custom-channels",
            R::ChannelCreate,
            A::DevKey,
            B::Developer,
        ),
        d(
            Method::GET,
            "/conversations/v3/custom-channels",
            R::ChannelList,
            A::DevKey,
            B::Developer,
        ),
        d(
            Method::GET,
            "/conversations/v3/custom-channels/{channelId}",
            R::ChannelGet,
            A::DevKey,
            B::Developer,
        ),
        d(
            Method::PATCH,
            "/conversations/v3/custom-channels/{channelId}",
            R::ChannelUpdate,
            A::DevKey,
            B::Developer,
        ),
        d(
            Method::DELETE,
            "/conversations/v3/custom-channels/{channelId}",
            R::ChannelDelete,
            A::DevKey,
            B::Developer,
        ),
        d(
            Method::POST,
            "/conversations/v3/custom-channels/{channelId}/channel-accounts",
            R::AccountCreate,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/conversations/v3/custom-channels/{channelId}/channel-accounts",
            R::AccountList,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/conversations/v3/custom-channels/{channelId}/channel-accounts/{channelAccountId}",
            R::AccountGet,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::PATCH,
            "/conversations/v3/custom-channels/{channelId}/channel-accounts/{channelAccountId}",
            R::AccountUpdate,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::POST,
            "/conversations/v3/custom-channels/{channelId}/messages",
            R::MessagePublish,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/conversations/v3/custom-channels/{channelId}/messages/{messageId}",
            R::MessageGet,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::PATCH,
            "/conversations/v3/custom-channels/{channelId}/messages/{messageId}",
            R::MessageUpdate,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/conversations/v3/conversations/inboxes",
            R::InboxList,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/conversations/v3/conversations/inboxes/{inboxId}",
            R::InboxGet,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/conversations/v3/conversations/threads",
            R::ThreadList,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/conversations/v3/conversations/threads/{threadId}",
            R::ThreadGet,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::PATCH,
            "/conversations/v3/conversations/threads/{threadId}",
            R::ThreadUpdate,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::DELETE,
            "/conversations/v3/conversations/threads/{threadId}",
            R::ThreadArchive,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/conversations/v3/conversations/threads/{threadId}/messages",
            R::ThreadMessages,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/conversations/v3/conversations/threads/{threadId}/messages/{messageId}",
            R::ThreadMessage,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/conversations/v3/conversations/actors/{actorId}",
            R::ActorGet,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/crm/v3/objects/contacts/{contactId}",
            R::ContactGet,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::POST,
            "/crm/v3/objects/contacts/search",
            R::ContactSearch,
            A::Bearer,
            B::Search,
        ),
        d(
            Method::POST,
            "/files/v3/files",
            R::FileUpload,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/files/v3/files/{fileId}",
            R::FileGet,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/files/v3/files/{fileId}/signed-url",
            R::FileSignedUrl,
            A::Bearer,
            B::Portal,
        ),
        d(
            Method::GET,
            "/hubfs/{portalId}/{fileId}/{name}",
            R::FileServe,
            A::None,
            B::None,
        ),
        d(
            Method::GET,
            "/_sim/hosted/{fileId}/{name}",
            R::SimHosted,
            A::None,
            B::None,
        ),
        d(
            Method::GET,
            "/_sim/requests",
            R::SimRequests,
            A::None,
            B::None,
        ),
        d(
            Method::DELETE,
            "/_sim/requests",
            R::SimClearRequests,
            A::None,
            B::None,
        ),
        d(Method::GET, "/_sim/state", R::SimState, A::None, B::None),
        d(
            Method::GET,
            "/_sim/deliveries",
            R::SimDeliveries,
            A::None,
            B::None,
        ),
        d(
            Method::POST,
            "/_sim/agents",
            R::SimAddAgent,
            A::None,
            B::None,
        ),
        d(
            Method::POST,
            "/_sim/contacts",
            R::SimAddContact,
            A::None,
            B::None,
        ),
        d(
            Method::POST,
            "/_sim/inboxes",
            R::SimAddInbox,
            A::None,
            B::None,
        ),
        d(
            Method::POST,
            "/_sim/threads/{threadId}/assign",
            R::SimAssign,
            A::None,
            B::None,
        ),
        d(
            Method::POST,
            "/_sim/threads/{threadId}/unassign",
            R::SimUnassign,
            A::None,
            B::None,
        ),
        d(
            Method::POST,
            "/_sim/threads/{threadId}/reply",
            R::SimReply,
            A::None,
            B::None,
        ),
        d(
            Method::POST,
            "/_sim/threads/{threadId}/close",
            R::SimClose,
            A::None,
            B::None,
        ),
        d(
            Method::POST,
            "/_sim/faults",
            R::SimInjectFault,
            A::None,
            B::None,
        ),
        d(
            Method::DELETE,
            "/_sim/faults",
            R::SimClearFaults,
            A::None,
            B::None,
        ),
        d(
            Method::PUT,
            "/_sim/app-webhook-url",
            R::SimAppWebhookUrl,
            A::None,
            B::None,
        ),
        d(
            Method::POST,
            "/_sim/auth-codes",
            R::SimAuthCode,
            A::None,
            B::None,
        ),
    ]
}

/// One received request, taken apart for the handlers.
#[derive(Debug)]
pub struct Req {
    /// Path parameters by template name (percent-decoded).
    pub params: HashMap<String, String>,
    /// Query parameters in order (decoded).
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub body: Vec<u8>,
}

impl Req {
    /// A path parameter (always present for the route's template).
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }

    /// The first query parameter of that name.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as a JSON value: 400 VALIDATION_ERROR when it is not JSON.
    pub fn json(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::validation(
                "Invalid input JSON: the request body is empty",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::validation(format!(
                "Invalid input JSON on line {}, column {}: {e}",
                e.line(),
                e.column()
            ))
        })
    }

    /// The body as a JSON object: 400 VALIDATION_ERROR otherwise.
    pub fn json_object(&self) -> Result<serde_json::Map<String, Value>, ApiError> {
        match self.json()? {
            Value::Object(m) => Ok(m),
            _ => Err(ApiError::validation(
                "Invalid input JSON: expected a JSON object",
            )),
        }
    }
}

fn match_template(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (ts, ps) in t.iter().zip(p.iter()) {
        if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if ps.is_empty() {
                return None;
            }
            params.insert(
                name.to_string(),
                percent_decode_str(ps).decode_utf8_lossy().into_owned(),
            );
        } else if ts != ps {
            return None;
        }
    }
    Some(params)
}

/// The axum router: everything goes through [`handle`].
pub fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(shared)
}

/// Records, routes and answers one request.
pub async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let limit = shared
        .config()
        .max_attachment_bytes
        .saturating_add(1024 * 1024);
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_string);
    let method = parts.method.clone();
    let headers_list: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();

    let table = routes();
    let candidates: Vec<(&RouteDef, HashMap<String, String>)> = table
        .iter()
        .filter_map(|r| match_template(r.template, &path).map(|p| (r, p)))
        .collect();
    let found = candidates.iter().find(|(r, _)| r.method == method);
    let endpoint = match found {
        Some((r, _)) => format!("{} {}", method, r.template),
        None => faults::normalize_endpoint(&format!("{method} {path}")),
    };

    let body = axum::body::to_bytes(body, limit).await;
    let body_bytes = body.as_ref().map(|b| b.to_vec()).unwrap_or_default();
    let seq = {
        let mut st = shared.state();
        let seq = st.next();
        st.requests.push((
            seq,
            RecordedRequest {
                method: method.to_string(),
                path: path.clone(),
                query: raw_query.clone(),
                endpoint: endpoint.clone(),
                headers: headers_list,
                body: body_bytes.clone(),
                status: 0,
            },
        ));
        *st.call_counts.entry(endpoint.clone()).or_default() += 1;
        seq
    };

    let resp = if body.is_err() {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "VALIDATION_ERROR",
            "The request body is too large",
        )
        .into_resp()
    } else {
        match found {
            None if !candidates.is_empty() => {
                ApiError::method_not_allowed(method.as_str()).into_resp()
            }
            None => ApiError::not_found(format!("No endpoint matches {method} {path}")).into_resp(),
            Some((def, params)) => {
                let req = Req {
                    params: params.clone(),
                    query: raw_query
                        .as_deref()
                        .map(|q| {
                            url::form_urlencoded::parse(q.as_bytes())
                                .into_owned()
                                .collect()
                        })
                        .unwrap_or_default(),
                    headers: parts.headers.clone(),
                    body: body_bytes,
                };
                serve(&shared, def, &endpoint, req).await
            }
        }
    };

    tracing::debug!(%method, %path, status = resp.status.as_u16(), "request");
    {
        let mut st = shared.state();
        if let Some((_, r)) = st.requests.iter_mut().rev().find(|(s, _)| *s == seq) {
            r.status = resp.status.as_u16();
        }
    }
    to_response(resp)
}

async fn serve(shared: &Arc<Shared>, def: &RouteDef, endpoint: &str, req: Req) -> Resp {
    let is_api = !def.template.starts_with("/_sim") && def.route != Route::FileServe;
    if is_api {
        if let Some(delay) = faults::take_slow(shared, endpoint) {
            tokio::time::sleep(delay).await;
        }
        if let Some(resp) = faults::take_failure(shared, endpoint) {
            let rate = faults::check_rate(shared, def.bucket, false);
            return with_headers(resp, rate.headers);
        }
    }
    if let Err(e) = auth::check(shared, def.auth, &req) {
        let rate = faults::check_rate(shared, def.bucket, false);
        return with_headers(e.into_resp(), rate.headers);
    }
    let rate = faults::check_rate(shared, def.bucket, true);
    if !rate.allowed {
        let policy = if def.bucket == Bucket::Search {
            "SECONDLY"
        } else {
            "TEN_SECONDLY_ROLLING"
        };
        return with_headers(ApiError::rate_limited(policy).into_resp(), rate.headers);
    }
    let result = dispatch(shared, def.route, &req).await;
    let resp = match result {
        Ok(r) => r,
        Err(e) => e.into_resp(),
    };
    with_headers(resp, rate.headers)
}

fn with_headers(mut resp: Resp, headers: Vec<(String, String)>) -> Resp {
    resp.headers.extend(headers);
    resp
}

async fn dispatch(shared: &Arc<Shared>, route: Route, req: &Req) -> ApiResult {
    use Route as R;
    match route {
        R::OauthToken => auth::token(shared, req),
        R::OauthAuthorize => auth::authorize(shared, req),
        R::ChannelCreate => channels::create_channel(shared, req),
        R::ChannelList => channels::list_channels(shared, req),
        R::ChannelGet => channels::get_channel(shared, req),
        R::ChannelUpdate => channels::update_channel(shared, req),
        R::ChannelDelete => channels::delete_channel(shared, req),
        R::AccountCreate => channels::create_account(shared, req),
        R::AccountList => channels::list_accounts(shared, req),
        R::AccountGet => channels::get_account(shared, req),
        R::AccountUpdate => channels::update_account(shared, req),
        R::MessagePublish => channels::publish_message(shared, req),
        R::MessageGet => channels::get_message(shared, req),
        R::MessageUpdate => channels::update_message(shared, req),
        R::InboxList => conversations::list_inboxes(shared, req),
        R::InboxGet => conversations::get_inbox(shared, req),
        R::ThreadList => conversations::list_threads(shared, req),
        R::ThreadGet => conversations::get_thread(shared, req),
        R::ThreadUpdate => conversations::update_thread(shared, req),
        R::ThreadArchive => conversations::archive_thread(shared, req),
        R::ThreadMessages => conversations::thread_messages(shared, req),
        R::ThreadMessage => conversations::thread_message(shared, req),
        R::ActorGet => conversations::get_actor(shared, req),
        R::ContactGet => crm::get_contact(shared, req),
        R::ContactSearch => crm::search_contacts(shared, req),
        R::FileUpload => files::upload(shared, req).await,
        R::FileGet => files::get_file(shared, req),
        R::FileSignedUrl => files::signed_url(shared, req),
        R::FileServe => files::serve_file(shared, req),
        R::SimHosted => files::serve_hosted(shared, req),
        R::SimRequests => operator::http_requests(shared),
        R::SimClearRequests => operator::http_clear_requests(shared),
        R::SimState => operator::http_state(shared),
        R::SimDeliveries => operator::http_deliveries(shared),
        R::SimAddAgent => operator::http_add_agent(shared, req),
        R::SimAddContact => operator::http_add_contact(shared, req),
        R::SimAddInbox => operator::http_add_inbox(shared, req),
        R::SimAssign => operator::http_assign(shared, req).await,
        R::SimUnassign => operator::http_unassign(shared, req).await,
        R::SimReply => operator::http_reply(shared, req).await,
        R::SimClose => operator::http_close(shared, req).await,
        R::SimInjectFault => operator::http_inject(shared, req),
        R::SimClearFaults => operator::http_clear_faults(shared),
        R::SimAppWebhookUrl => operator::http_app_webhook_url(shared, req),
        R::SimAuthCode => operator::http_auth_code(shared, req),
    }
}

fn to_response(resp: Resp) -> Response {
    let mut out = Body::from(resp.body).into_response();
    *out.status_mut() = resp.status;
    for (k, v) in resp.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            out.headers_mut().append(k, v);
        }
    }
    out
}
