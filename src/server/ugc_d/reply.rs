//! Family D answers (protocol.md §5.4): success `{"code": 0, "message":
//! "成功", "data": {…}}`, errors `{"code", "message", "canRetry"}`, always
//! HTTP 200 `application/json` (the browser SDK reads only the body).
//! [`UgcDError`] is the one error of the family, its codes the table of
//! `vod::rules::ugc_d`; the store's errors convert into it, internal
//! causes logged, not sent.

use axum::response::Response;
use serde_json::{Value, json};

use crate::server::error::ServerError;
use crate::server::respond::json_response;
use crate::vod::rules::codes::Code;
use crate::vod::rules::ugc_d as rules;

/// A family D error: an entry of the code table and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UgcDError {
    pub code: Code,
    pub message: String,
}

/// Shorthand for a [`UgcDError`].
pub fn fail(code: Code, message: impl Into<String>) -> UgcDError {
    UgcDError {
        code,
        message: message.into(),
    }
}

/// A bad or missing parameter (10001).
pub fn invalid(message: impl Into<String>) -> UgcDError {
    fail(rules::INVALID_REQUEST, message)
}

/// A refused signature (10004): the client asks its signer again.
pub fn bad_signature(why: impl std::fmt::Display) -> UgcDError {
    fail(
        rules::INVALID_SIGNATURE,
        format!("invalid signature: {why}"),
    )
}

/// An unusable vodSessionKey (31001).
pub fn bad_session(why: &str) -> UgcDError {
    fail(
        rules::INVALID_SESSION,
        format!("invalid vodSessionKey: {why}"),
    )
}

impl From<ServerError> for UgcDError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::BodyTooLarge(n) => invalid(format!("the request body exceeds {n} bytes")),
            ServerError::MissingParam(p) => invalid(format!("missing parameter {p}")),
            e @ ServerError::BadParam { .. } => invalid(e.to_string()),
            e => {
                tracing::error!(error = ?e, "family D request failed");
                fail(rules::INTERNAL, "internal error, please retry")
            }
        }
    }
}

/// The answer to an error.
pub fn error_response(e: &UgcDError) -> Response {
    json_response(
        200,
        &json!({
            "code": e.code.code,
            "message": e.message,
            "canRetry": i32::from(e.code.can_retry),
        }),
    )
}

/// The answer to a success.
pub fn respond(data: Value) -> Response {
    json_response(
        200,
        &json!({"code": 0, "message": rules::OK_MESSAGE, "data": data}),
    )
}
