//! The one door to the network: a small blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! Every request carries connect / first-byte / between-bytes timeouts (a host's default is 600 s), a
//! 4xx or 5xx is an ordinary [`Response`], and only a failure to get an answer is a [`FetchError`].

use alloc::{borrow::ToOwned, format, string::String, vec::Vec};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, HeaderError, IncomingBody, Method as WasiMethod, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

/// Time allowed to connect.
const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Time allowed until the first byte of the answer.
const FIRST_BYTE_TIMEOUT_MS: u64 = 20_000;
/// Time allowed between two bytes of the answer.
const BETWEEN_BYTES_TIMEOUT_MS: u64 = 20_000;
/// Largest chunk written to an output stream at once (wasi's blocking-write limit).
const WRITE_CHUNK: usize = 4096;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PATCH
    Patch,
    /// PUT
    Put,
    /// DELETE
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// Headers (names in lower case).
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
}

/// An answer, whatever its status.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower case) as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| core::str::from_utf8(v).ok())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// No answer came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The URL cannot be requested.
    InvalidUrl(String),
    /// The connection failed or timed out (the text is the host's error code, safe to log).
    Transport(String),
    /// The answer's body is larger than allowed.
    TooLarge(usize),
}

impl core::fmt::Display for FetchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FetchError::InvalidUrl(m) => write!(f, "invalid URL: {m}"),
            FetchError::Transport(m) => write!(f, "no answer: {m}"),
            FetchError::TooLarge(n) => write!(f, "answer larger than {n} bytes"),
        }
    }
}

impl core::error::Error for FetchError {}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpScheme {
    /// `http`
    Http,
    /// `https`
    Https,
}

/// An absolute `http(s)` URL split into what a request needs. Only the shape is checked here; the
/// host validates the characters of each part when the request is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The scheme.
    pub scheme: HttpScheme,
    /// `host[:port]` (with `user@` when the URL has one).
    pub authority: &'a str,
    /// The path and query, `/` when the URL has neither; the fragment is dropped.
    pub path_and_query: &'a str,
}

impl<'a> Target<'a> {
    /// Splits `url`; the error says what is wrong with it.
    pub fn parse(url: &'a str) -> Result<Target<'a>, &'static str> {
        if !url
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
        {
            return Err("not an absolute http(s) URL");
        }
        let (scheme, rest) = url.split_once("://").ok_or("not an absolute http(s) URL")?;
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            HttpScheme::Https
        } else if scheme.eq_ignore_ascii_case("http") {
            HttpScheme::Http
        } else {
            return Err("the scheme must be http or https");
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path_and_query) =
            rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err("no host");
        }
        Ok(Target {
            scheme,
            authority,
            path_and_query: if path_and_query.is_empty() {
                "/"
            } else {
                path_and_query
            },
        })
    }
}

/// The name `Debug` gives a header error (`HeaderError::Forbidden`, ...), without pulling the
/// `Debug` formatting machinery into the component for three fixed words.
fn header_error_name(error: HeaderError) -> &'static str {
    match error {
        HeaderError::InvalidSyntax => "HeaderError::InvalidSyntax",
        HeaderError::Forbidden => "HeaderError::Forbidden",
        HeaderError::Immutable => "HeaderError::Immutable",
    }
}

/// Sends `request` and reads the whole answer, refusing a body over `max_body` bytes.
pub fn fetch(request: &Request, max_body: usize) -> Result<Response, FetchError> {
    let target = Target::parse(&request.url).map_err(|why| FetchError::InvalidUrl(why.into()))?;
    let scheme = match target.scheme {
        HttpScheme::Https => Scheme::Https,
        HttpScheme::Http => Scheme::Http,
    };
    let authority = target.authority.to_owned();
    let path = target.path_and_query.to_owned();

    let entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&entries)
        .map_err(|e| FetchError::InvalidUrl(format!("bad header: {}", header_error_name(e))))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        Method::Get => WasiMethod::Get,
        Method::Post => WasiMethod::Post,
        Method::Patch => WasiMethod::Patch,
        Method::Put => WasiMethod::Put,
        Method::Delete => WasiMethod::Delete,
    };
    let set = outgoing.set_method(&method).is_ok()
        && outgoing.set_scheme(Some(&scheme)).is_ok()
        && outgoing.set_authority(Some(&authority)).is_ok()
        && outgoing.set_path_with_query(Some(&path)).is_ok();
    if !set {
        return Err(FetchError::InvalidUrl(
            "the host refused the URL's parts".into(),
        ));
    }
    let body = outgoing
        .body()
        .map_err(|()| FetchError::Transport("request body unavailable".into()))?;

    let options = RequestOptions::new();
    // A host that does not support a timeout refuses to set it; the others still apply.
    let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT_MS * 1_000_000));
    let _ = options.set_first_byte_timeout(Some(FIRST_BYTE_TIMEOUT_MS * 1_000_000));
    let _ = options.set_between_bytes_timeout(Some(BETWEEN_BYTES_TIMEOUT_MS * 1_000_000));

    // Send first, then stream the body: the host consumes it while we write.
    let future = outgoing_handler::handle(outgoing, Some(options)).map_err(transport)?;
    write_body(body, &request.body)?;

    let pollable = future.subscribe();
    pollable.block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(transport(code)),
        Some(Err(())) | None => return Err(FetchError::Transport("response already taken".into())),
    };
    let status = response.status();
    let headers = response.headers().entries();
    let incoming = response
        .consume()
        .map_err(|()| FetchError::Transport("response body unavailable".into()))?;
    let body = read_body(incoming, max_body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), FetchError> {
    {
        let stream = body
            .write()
            .map_err(|()| FetchError::Transport("request body stream unavailable".into()))?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| stream_failure("writing the request body", e))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(transport)
}

fn read_body(incoming: IncomingBody, max_body: usize) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| FetchError::Transport("response body stream unavailable".into()))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    if out.len() + chunk.len() > max_body {
                        return Err(FetchError::TooLarge(max_body));
                    }
                    out.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_failure("reading the answer", e)),
            }
        }
    }
    drop(IncomingBody::finish(incoming));
    Ok(out)
}

fn stream_failure(what: &str, error: StreamError) -> FetchError {
    let detail = match error {
        StreamError::Closed => "closed".into(),
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
    };
    FetchError::Transport(format!("{what}: {detail}"))
}

fn transport(code: ErrorCode) -> FetchError {
    let name = error_code_name(&code);
    FetchError::Transport(match code {
        // The host's own explanation is worth keeping.
        ErrorCode::InternalError(Some(detail)) => format!("{name}: {detail}"),
        _ => name.into(),
    })
}

/// The name of a `wasi:http` error code, as its `Debug` form starts (the payloads, such as a DNS
/// rcode, are left out: a name table is far smaller than the derived `Debug` of the whole variant).
fn error_code_name(code: &ErrorCode) -> &'static str {
    match code {
        ErrorCode::DnsTimeout => "DnsTimeout",
        ErrorCode::DnsError(_) => "DnsError",
        ErrorCode::DestinationNotFound => "DestinationNotFound",
        ErrorCode::DestinationUnavailable => "DestinationUnavailable",
        ErrorCode::DestinationIpProhibited => "DestinationIpProhibited",
        ErrorCode::DestinationIpUnroutable => "DestinationIpUnroutable",
        ErrorCode::ConnectionRefused => "ConnectionRefused",
        ErrorCode::ConnectionTerminated => "ConnectionTerminated",
        ErrorCode::ConnectionTimeout => "ConnectionTimeout",
        ErrorCode::ConnectionReadTimeout => "ConnectionReadTimeout",
        ErrorCode::ConnectionWriteTimeout => "ConnectionWriteTimeout",
        ErrorCode::ConnectionLimitReached => "ConnectionLimitReached",
        ErrorCode::TlsProtocolError => "TlsProtocolError",
        ErrorCode::TlsCertificateError => "TlsCertificateError",
        ErrorCode::TlsAlertReceived(_) => "TlsAlertReceived",
        ErrorCode::HttpRequestDenied => "HttpRequestDenied",
        ErrorCode::HttpRequestLengthRequired => "HttpRequestLengthRequired",
        ErrorCode::HttpRequestBodySize(_) => "HttpRequestBodySize",
        ErrorCode::HttpRequestMethodInvalid => "HttpRequestMethodInvalid",
        ErrorCode::HttpRequestUriInvalid => "HttpRequestUriInvalid",
        ErrorCode::HttpRequestUriTooLong => "HttpRequestUriTooLong",
        ErrorCode::HttpRequestHeaderSectionSize(_) => "HttpRequestHeaderSectionSize",
        ErrorCode::HttpRequestHeaderSize(_) => "HttpRequestHeaderSize",
        ErrorCode::HttpRequestTrailerSectionSize(_) => "HttpRequestTrailerSectionSize",
        ErrorCode::HttpRequestTrailerSize(_) => "HttpRequestTrailerSize",
        ErrorCode::HttpResponseIncomplete => "HttpResponseIncomplete",
        ErrorCode::HttpResponseHeaderSectionSize(_) => "HttpResponseHeaderSectionSize",
        ErrorCode::HttpResponseHeaderSize(_) => "HttpResponseHeaderSize",
        ErrorCode::HttpResponseBodySize(_) => "HttpResponseBodySize",
        ErrorCode::HttpResponseTrailerSectionSize(_) => "HttpResponseTrailerSectionSize",
        ErrorCode::HttpResponseTrailerSize(_) => "HttpResponseTrailerSize",
        ErrorCode::HttpResponseTransferCoding(_) => "HttpResponseTransferCoding",
        ErrorCode::HttpResponseContentCoding(_) => "HttpResponseContentCoding",
        ErrorCode::HttpResponseTimeout => "HttpResponseTimeout",
        ErrorCode::HttpUpgradeFailed => "HttpUpgradeFailed",
        ErrorCode::HttpProtocolError => "HttpProtocolError",
        ErrorCode::LoopDetected => "LoopDetected",
        ErrorCode::ConfigurationError => "ConfigurationError",
        ErrorCode::InternalError(_) => "InternalError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_absolute_http_urls() -> Result<(), Box<dyn core::error::Error>> {
        let t = Target::parse("https://api.example.com:8443/a/b?c=d#frag")?;
        assert_eq!(t.scheme, HttpScheme::Https);
        assert_eq!(t.authority, "api.example.com:8443");
        assert_eq!(t.path_and_query, "/a/b?c=d");
        let t = Target::parse("HTTP://127.0.0.1:9")?;
        assert_eq!((t.scheme, t.path_and_query), (HttpScheme::Http, "/"));
        assert_eq!(Target::parse("http://h?q")?.path_and_query, "?q");
        Ok(())
    }

    #[test]
    fn refuses_what_is_not_an_absolute_http_url() {
        for url in [
            "",
            "/relative",
            "ftp://host/x",
            "https:///no-host",
            "https://exa mple.com/",
            "https://host/<script>",
            "https://hôst/",
        ] {
            assert!(Target::parse(url).is_err(), "{url}");
        }
    }
}
