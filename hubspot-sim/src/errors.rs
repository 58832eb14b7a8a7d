//! HubSpot's error bodies and the simulator's response type.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// A new correlation id, shaped like HubSpot's (a UUID).
pub fn correlation_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An answer the simulator sends: status, extra headers and a body.
#[derive(Clone, Debug)]
pub struct Resp {
    /// The HTTP status.
    pub status: StatusCode,
    /// Extra headers (content type included).
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Resp {
    /// A JSON answer.
    pub fn json(status: StatusCode, value: &Value) -> Resp {
        Resp {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json;charset=utf-8".into(),
            )],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// `200 OK` with a JSON body.
    pub fn ok(value: Value) -> Resp {
        Resp::json(StatusCode::OK, &value)
    }

    /// `201 Created` with a JSON body.
    pub fn created(value: Value) -> Resp {
        Resp::json(StatusCode::CREATED, &value)
    }

    /// `204 No Content`.
    pub fn no_content() -> Resp {
        Resp {
            status: StatusCode::NO_CONTENT,
            headers: vec![],
            body: vec![],
        }
    }

    /// Raw bytes with a content type.
    pub fn bytes(content_type: &str, body: Vec<u8>) -> Resp {
        Resp {
            status: StatusCode::OK,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A refusal in HubSpot's error shape (`status`, `message`, `correlationId`, `category`, ...).
#[derive(Clone, Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The full JSON body.
    pub body: Value,
}

impl ApiError {
    /// The standard error body with a category.
    pub fn new(status: StatusCode, category: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({
                "status": "error",
                "message": message.into(),
                "correlationId": correlation_id(),
                "category": category,
            }),
        }
    }

    /// 404 `OBJECT_NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", message)
    }

    /// 400 `VALIDATION_ERROR`.
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// 400 `VALIDATION_ERROR` naming missing required fields in `errors[]`.
    pub fn missing_fields(fields: &[&str]) -> ApiError {
        let mut e = ApiError::validation(format!(
            "Invalid input JSON: Some required fields were not set: [{}]",
            fields.join(", ")
        ));
        e.body["errors"] = Value::Array(
            fields
                .iter()
                .map(|f| {
                    json!({
                        "message": format!("Missing required field '{f}'"),
                        "code": "MISSING_REQUIRED_FIELD",
                        "in": f,
                    })
                })
                .collect(),
        );
        e
    }

    /// 401 `INVALID_AUTHENTICATION`.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "INVALID_AUTHENTICATION", message)
    }

    /// 405 for a known path with the wrong method.
    pub fn method_not_allowed(method: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "VALIDATION_ERROR",
            format!("HTTP {method} is not supported by this URL"),
        )
    }

    /// An error body with an OAuth-style `status` code instead of a category
    /// (`BAD_REFRESH_TOKEN`, `BAD_CLIENT_ID`, ...).
    pub fn oauth(status_code: &str, message: &str, invalid_grant: bool) -> ApiError {
        let mut body = json!({
            "status": status_code,
            "message": message,
            "correlationId": correlation_id(),
        });
        if invalid_grant {
            body["error"] = json!("invalid_grant");
            body["error_description"] = json!(message);
        }
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body,
        }
    }

    /// 429 with HubSpot's rate-limit body.
    pub fn rate_limited(policy: &str) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({
                "status": "error",
                "message": format!("You have reached your {} limit.", policy.to_lowercase()),
                "errorType": "RATE_LIMIT",
                "correlationId": correlation_id(),
                "policyName": policy,
            }),
        }
    }

    /// Turns the error into an answer.
    pub fn into_resp(self) -> Resp {
        Resp::json(self.status, &self.body)
    }
}

impl From<ApiError> for Resp {
    fn from(e: ApiError) -> Resp {
        e.into_resp()
    }
}

/// What every endpoint handler returns.
pub type ApiResult = Result<Resp, ApiError>;
