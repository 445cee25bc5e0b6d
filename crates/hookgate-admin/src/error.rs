//! Admin answers for failures, in one place: a code for scripts and a
//! message for a human, never an internal error text or a secret.

use hookgate_http::{Body, json};
use hookgate_store::StoreError;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;

/// A failed admin call.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The methods a 405's route takes (its `Allow` header).
    allow: Option<&'static str>,
}

impl ApiError {
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
            allow: None,
        }
    }
    /// 408: the body did not arrive in time.
    pub fn body_timeout() -> Self {
        ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            code: "request_timeout",
            message: "request body not received in time".to_owned(),
            allow: None,
        }
    }
    /// 413: the body is larger than the admin API reads.
    pub fn body_too_large(limit: &str) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: format!("request body larger than {limit}"),
            allow: None,
        }
    }
    /// 409: the request is well formed but the state refuses it.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            code,
            message: message.into(),
            allow: None,
        }
    }
    /// 401.
    pub fn unauthorized() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "missing or invalid bearer token (Authorization: Bearer <token>)".into(),
            allow: None,
        }
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: message.into(),
            allow: None,
        }
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
            allow: None,
        }
    }
    /// 405, naming the methods the route takes (`Allow`).
    pub fn method_not_allowed(allow: &'static str) -> Self {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            message: format!("method not allowed on this route (it takes {allow})"),
            allow: Some(allow),
        }
    }

    /// The response.
    pub fn into_response(self) -> Response<Body> {
        let mut resp = json(
            self.status,
            &json!({ "error": self.code, "message": self.message }),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(allow) = self.allow {
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(1));
        }
        // The body was not read to its end: the connection cannot carry
        // another request, and a client that reused it would see it cut.
        if self.status == StatusCode::PAYLOAD_TOO_LARGE
            || self.status == StatusCode::REQUEST_TIMEOUT
        {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        tracing::warn!(request_id = %hookgate_core::trace::new_request_id(), error = %err, "admin call failed on the store");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "store_unavailable",
            message: "the store is unavailable; try again".into(),
            allow: None,
        }
    }
}
