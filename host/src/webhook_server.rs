//! The public webhook endpoint: `POST /webhooks/{integration_id}` → the installation's `webhook` export.
//!
//! The component verifies the help desk's signature over the public URL, so the request URL it gets is
//! the installation's `webhook_url` (the public one, as the help desk called it) plus the query string
//! as received, never the listen address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::task::JoinHandle;

use crate::runtime::Runtime;
use crate::types::{Context, HttpRequest};

/// The largest webhook body accepted (larger answers 413 before the component sees it).
pub const MAX_WEBHOOK_BODY: usize = 1 << 20;

/// An installation the server forwards to: its context and the runtime that serves it.
#[derive(Clone)]
struct Installation {
    ctx: Context,
    runtime: Runtime,
}

struct Shared {
    runtime: Runtime,
    installations: RwLock<HashMap<String, Installation>>,
}

/// An axum server for `POST /webhooks/{integration_id}` that forwards to `Runtime::webhook` with the
/// installation's public webhook URL (plus the query as received) as the request URL.
pub struct WebhookServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for WebhookServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl WebhookServer {
    /// Listens on `listen` (port 0 picks a free one) and serves installations with `runtime`.
    pub async fn start(runtime: Runtime, listen: SocketAddr) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening for webhooks on {listen}"))?;
        let addr = listener
            .local_addr()
            .context("reading the webhook listener's address")?;
        let shared = Arc::new(Shared {
            runtime,
            installations: RwLock::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/webhooks/{integration_id}", post(handle))
            .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the webhook server stopped");
            }
        });
        tracing::info!(%addr, "webhook server listening");
        Ok(Self { addr, shared, task })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/webhooks/<integration_id>`: the local URL of an installation's endpoint.
    pub fn url_for(&self, integration_id: &str) -> String {
        format!("http://{}/webhooks/{integration_id}", self.addr)
    }

    /// Serves webhooks for `ctx`'s installation (replacing an earlier context of the same id) with the
    /// server's runtime.
    pub fn add_installation(&self, ctx: Context) {
        let runtime = self.shared.runtime.clone();
        self.add_installation_with(ctx, runtime);
    }

    /// Serves webhooks for `ctx`'s installation with `runtime` (e.g. one aimed at another HubSpot base
    /// URL).
    pub fn add_installation_with(&self, ctx: Context, runtime: Runtime) {
        self.shared
            .installations
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ctx.integration_id.clone(), Installation { ctx, runtime });
    }

    /// Stops serving `integration_id`; its webhooks answer 404 from now on.
    pub fn remove_installation(&self, integration_id: &str) {
        self.shared
            .installations
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(integration_id);
    }

    /// Stops the server.
    pub fn shutdown(&self) {
        self.task.abort();
    }
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Path(integration_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let installation = shared
        .installations
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&integration_id)
        .cloned();
    let Some(Installation { ctx, runtime }) = installation else {
        return (StatusCode::NOT_FOUND, "unknown integration\n").into_response();
    };
    let url = match uri.query() {
        Some(query) => format!("{}?{query}", ctx.webhook_url),
        None => ctx.webhook_url.clone(),
    };
    let request = HttpRequest {
        method: method.as_str().to_owned(),
        url,
        headers: headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect(),
        body: body.to_vec(),
    };
    match runtime.webhook(&ctx, request).await {
        Ok(answer) => {
            let mut response = Response::new(Body::from(answer.body));
            *response.status_mut() =
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            for (name, value) in answer.headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_bytes(&value),
                ) {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }
        Err(error) => {
            tracing::error!(integration = %integration_id, error = %format!("{error:#}"), "webhook call failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}
