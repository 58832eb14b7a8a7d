//! HubSpot's file store (upload, metadata, the URLs files are served at) and the bot-side
//! "CDN" that `host_file` stands for.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::errors::{ApiError, ApiResult, Resp};
use crate::server::Req;
use crate::state::{Shared, State, StoredFile, now_iso, now_ms, random_hex};

const ACCESS: &[&str] = &[
    "PUBLIC_INDEXABLE",
    "PUBLIC_NOT_INDEXABLE",
    "HIDDEN_INDEXABLE",
    "HIDDEN_NOT_INDEXABLE",
    "HIDDEN_PRIVATE",
    "PRIVATE",
    "HIDDEN_SENSITIVE",
    "SENSITIVE",
];

fn encode_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn file_type(content_type: &str) -> &'static str {
    match content_type {
        c if c.starts_with("image/") => "IMG",
        c if c.starts_with("video/") => "MOVIE",
        c if c.starts_with("audio/") => "AUDIO",
        c if c.starts_with("text/") || c == "application/pdf" || c.contains("document") => {
            "DOCUMENT"
        }
        _ => "OTHER",
    }
}

/// Puts a file into the store and returns its object as HubSpot returns it.
pub fn store_file(
    shared: &Shared,
    st: &mut State,
    file_name: &str,
    content_type: &str,
    bytes: Vec<u8>,
    folder_path: &str,
    access: &str,
) -> Value {
    let id = (st.next() + 180_000_000_000).to_string();
    let (base_url, portal_id) = (&shared.base_url, shared.config().portal_id);
    let (stem, ext) = match file_name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), e.to_string()),
        _ => (file_name.to_string(), String::new()),
    };
    let folder = format!("/{}", folder_path.trim_matches('/'));
    let now = now_iso();
    let body = json!({
        "id": id,
        "createdAt": now,
        "updatedAt": now,
        "archived": false,
        "parentFolderId": "1000",
        "name": stem,
        "path": format!("{}/{}", folder.trim_end_matches('/'), file_name),
        "size": bytes.len(),
        "type": file_type(content_type),
        "extension": ext,
        "access": access,
        "isUsableInContent": true,
        "url": format!("{base_url}/hubfs/{portal_id}/{id}/{}", encode_segment(file_name)),
    });
    st.files.insert(
        id,
        StoredFile {
            body: body.clone(),
            content_type: content_type.to_string(),
            bytes,
        },
    );
    body
}

/// `POST /files/v3/files` (multipart: `file`, `folderPath` or `folderId`, `options` JSON with
/// `access`, optional `fileName`) → 201 with the file.
pub async fn upload(shared: &Shared, req: &Req) -> ApiResult {
    let is_multipart = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "VALIDATION_ERROR",
            "Content-Type must be multipart/form-data",
        ));
    }
    let mut builder = axum::http::Request::builder()
        .method("POST")
        .uri("/files/v3/files");
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    let request = builder
        .body(Body::from(req.body.clone()))
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| ApiError::validation(format!("Invalid multipart body: {e}")))?;
    let (mut file, mut folder_path, mut folder_id, mut options, mut file_name) =
        (None, None, None, None, None);
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(ApiError::validation(format!("Invalid multipart body: {e}"))),
        };
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "file" => {
                let fname = field.file_name().map(str::to_string);
                let ctype = field.content_type().map(str::to_string);
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| ApiError::validation(format!("Invalid file part: {e}")))?;
                file = Some((fname, ctype, bytes.to_vec()));
            }
            other => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| ApiError::validation(format!("Invalid part {other}: {e}")))?;
                match other {
                    "folderPath" => folder_path = Some(text),
                    "folderId" => folder_id = Some(text),
                    "options" => options = Some(text),
                    "fileName" => file_name = Some(text),
                    _ => {}
                }
            }
        }
    }
    let Some((part_name, part_type, bytes)) = file else {
        return Err(ApiError::missing_fields(&["file"]));
    };
    if folder_path.is_none() && folder_id.is_none() {
        return Err(ApiError::validation(
            "Either folderPath or folderId is required",
        ));
    }
    let Some(options) = options else {
        return Err(ApiError::missing_fields(&["options"]));
    };
    let options: Value = serde_json::from_str(&options)
        .map_err(|e| ApiError::validation(format!("options is not valid JSON: {e}")))?;
    let access = match options["access"].as_str() {
        Some(a) if ACCESS.contains(&a) => a.to_string(),
        Some(a) => {
            return Err(ApiError::validation(format!(
                "options.access {a} is not one of {ACCESS:?}"
            )));
        }
        None => return Err(ApiError::missing_fields(&["options.access"])),
    };
    let config = shared.config();
    if bytes.len() > config.max_attachment_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "VALIDATION_ERROR",
            format!(
                "File is {} bytes; the limit is {} bytes",
                bytes.len(),
                config.max_attachment_bytes
            ),
        ));
    }
    let name = file_name
        .or(part_name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("file-{}", now_ms()));
    let ctype = part_type.unwrap_or_else(|| "application/octet-stream".into());
    let folder =
        folder_path.unwrap_or_else(|| format!("/folder-{}", folder_id.unwrap_or_default()));
    let mut st = shared.state();
    let body = store_file(shared, &mut st, &name, &ctype, bytes, &folder, &access);
    Ok(Resp::created(body))
}

/// `GET /files/v3/files/{fileId}` → the file object.
pub fn get_file(shared: &Shared, req: &Req) -> ApiResult {
    let id = req.param("fileId");
    let st = shared.state();
    st.files
        .get(id)
        .map(|f| Resp::ok(f.body.clone()))
        .ok_or_else(|| ApiError::not_found(format!("File {id} not found")))
}

/// `GET /files/v3/files/{fileId}/signed-url` → `{url, expiresAt, name, extension, type, size}`.
pub fn signed_url(shared: &Shared, req: &Req) -> ApiResult {
    let id = req.param("fileId");
    let st = shared.state();
    let f = st
        .files
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("File {id} not found")))?;
    Ok(Resp::ok(json!({
        "url": format!("{}?signature={}", f.body["url"].as_str().unwrap_or(""), random_hex(8)),
        "expiresAt": (chrono::Utc::now() + chrono::Duration::minutes(15)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "name": f.body["name"],
        "extension": f.body["extension"],
        "type": f.body["type"],
        "size": f.body["size"],
    })))
}

/// `GET /hubfs/{portalId}/{fileId}/{name}`: the stored bytes with their content type.
pub fn serve_file(shared: &Shared, req: &Req) -> ApiResult {
    let id = req.param("fileId");
    let st = shared.state();
    st.files
        .get(id)
        .filter(|_| req.param("portalId") == shared.config().portal_id.to_string())
        .map(|f| Resp::bytes(&f.content_type, f.bytes.clone()))
        .ok_or_else(|| ApiError::not_found("File not found"))
}

/// Serves bytes at `/_sim/hosted/{id}/{name}` and returns the URL.
pub fn host_file(shared: &Shared, name: &str, content_type: &str, bytes: Vec<u8>) -> String {
    let mut st = shared.state();
    let id = st.next().to_string();
    st.hosted
        .insert(id.clone(), (content_type.to_string(), bytes));
    format!(
        "{}/_sim/hosted/{id}/{}",
        shared.base_url,
        encode_segment(name)
    )
}

/// `GET /_sim/hosted/{fileId}/{name}`
pub fn serve_hosted(shared: &Shared, req: &Req) -> ApiResult {
    let st = shared.state();
    st.hosted
        .get(req.param("fileId"))
        .map(|(ct, b)| Resp::bytes(ct, b.clone()))
        .ok_or_else(|| ApiError::not_found("File not found"))
}
