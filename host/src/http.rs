//! The component's outgoing HTTP: requests to HubSpot's API go to a configurable base URL.
//!
//! The component always targets `https://api.hubapi.com`; in tests and the demo the host sends those
//! requests to a simulator instead by rewriting the scheme and authority (path and query kept) in
//! wasmtime-wasi-http's `send_request` hook. Every other URL goes out unchanged.

use std::future::Future;

use anyhow::{Context as _, Result, bail};
use http::uri::{Authority, Scheme, Uri};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// The host the component calls for every HubSpot API request.
pub const HUBSPOT_API_HOST: &str = "api.hubapi.com";

/// Where requests to `https://api.hubapi.com` are sent instead: a scheme and an authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
}

impl BaseUrl {
    /// Parses `http(s)://host[:port]` (a trailing `/` is allowed; a path or query is not, since only
    /// the scheme and authority are rewritten).
    pub fn parse(base: &str) -> Result<Self> {
        let uri: Uri = base
            .parse()
            .with_context(|| format!("the HubSpot base URL {base:?} is not a URL"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            bail!("the HubSpot base URL {base:?} needs a scheme and a host");
        };
        if *scheme != Scheme::HTTP && *scheme != Scheme::HTTPS {
            bail!("the HubSpot base URL {base:?} must be http or https");
        }
        if uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") {
            bail!("the HubSpot base URL {base:?} must not have a path or query");
        }
        Ok(Self {
            scheme: scheme.clone(),
            authority: authority.clone(),
        })
    }

    /// Rewrites `uri` to this base when it names `https://api.hubapi.com`; `None` otherwise.
    pub fn rewrite(&self, uri: &Uri) -> Option<Uri> {
        if !is_hubspot_api(uri) {
            return None;
        }
        let mut parts = uri.clone().into_parts();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        Uri::from_parts(parts).ok()
    }
}

/// Whether `uri` is `https://api.hubapi.com[:443]/...`.
fn is_hubspot_api(uri: &Uri) -> bool {
    uri.scheme() == Some(&Scheme::HTTPS)
        && uri.authority().is_some_and(|a| {
            a.host().eq_ignore_ascii_case(HUBSPOT_API_HOST)
                && matches!(a.port_u16(), None | Some(443))
        })
}

/// wasmtime-wasi-http hooks of one call: the base-URL rewrite, then wasmtime's default sender.
#[derive(Clone, Debug, Default)]
pub struct OutgoingHooks {
    base: Option<BaseUrl>,
}

impl OutgoingHooks {
    /// Hooks that send HubSpot API requests to `base` (or unchanged, when `None`).
    pub fn new(base: Option<BaseUrl>) -> Self {
        Self { base }
    }
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutgoingHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        if let Some(uri) = self.base.as_ref().and_then(|b| b.rewrite(request.uri())) {
            if let Some(authority) = uri.authority()
                && let Ok(host) = http::HeaderValue::from_str(authority.as_str())
            {
                request.headers_mut().insert(http::header::HOST, host);
            }
            *request.uri_mut() = uri;
        }
        // Method and path only: the query of channel-management calls carries the developer API key.
        tracing::debug!(
            method = %request.method(),
            host = request.uri().host().unwrap_or(""),
            path = request.uri().path(),
            "component HTTP request"
        );
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(base: &str, uri: &str) -> Option<String> {
        BaseUrl::parse(base)
            .unwrap()
            .rewrite(&uri.parse().unwrap())
            .map(|u| u.to_string())
    }

    #[test]
    fn rewrites_scheme_and_authority_and_keeps_path_and_query() {
        assert_eq!(
            rewrite(
                "http://127.0.0.1:8080/",
                "https://api.hubapi.com/conversations/v3/custom-channels?hapikey=k&appId=1"
            )
            .as_deref(),
            Some("http://127.0.0.1:8080/conversations/v3/custom-channels?hapikey=k&appId=1")
        );
        assert_eq!(
            rewrite("http://sim:1", "https://api.hubapi.com:443/oauth/v1/token").as_deref(),
            Some("http://sim:1/oauth/v1/token")
        );
    }

    #[test]
    fn leaves_other_urls_alone() {
        for uri in [
            "http://api.hubapi.com/x",
            "https://api.hubapi.com:8443/x",
            "https://api.hubspot.com/x",
            "https://cdn.example.com/file.png",
        ] {
            assert_eq!(rewrite("http://127.0.0.1:1", uri), None, "{uri}");
        }
    }

    #[test]
    fn refuses_base_urls_with_a_path_or_another_scheme() {
        assert!(BaseUrl::parse("http://127.0.0.1:1/api").is_err());
        assert!(BaseUrl::parse("ftp://127.0.0.1:1").is_err());
        assert!(BaseUrl::parse("127.0.0.1:1").is_err());
    }
}
