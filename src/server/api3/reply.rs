//! API 3.0 answers: `{"Response": {…, "RequestId"}}` and the error shape
//! `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`, always
//! HTTP 200 with `Content-Type: application/json` exactly
//! (protocol-api3.md §0.2: tencentcloud-sdk-python reads `Response.Error`
//! only under that exact type, and treats any other status as a network
//! error). [`Api3Error`] is the one error of the family; the store's and
//! the rules' errors convert into it, internal causes logged, not sent.

use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use serde_json::{Value, json};

use crate::server::error::ServerError;
use crate::vod::rules::api3::codes;

/// An API 3.0 error: a code of §1.5 and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api3Error {
    pub code: &'static str,
    pub message: String,
}

/// Shorthand for an [`Api3Error`].
pub fn fail(code: &'static str, message: impl Into<String>) -> Api3Error {
    Api3Error {
        code,
        message: message.into(),
    }
}

impl From<ServerError> for Api3Error {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::BodyTooLarge(n) => fail(
                codes::REQUEST_SIZE_LIMIT_EXCEEDED,
                format!("The request body exceeds {n} bytes."),
            ),
            ServerError::MissingParam(p) => fail(
                codes::MISSING_PARAMETER,
                format!("The request is missing a required parameter `{p}`."),
            ),
            ServerError::BadParam { name, why } => {
                fail(codes::INVALID_PARAMETER_VALUE, format!("{name}: {why}"))
            }
            other => {
                tracing::error!(error = ?other, "api3 request failed");
                fail(
                    codes::INTERNAL_ERROR,
                    "An internal error has occurred. Retry your request.",
                )
            }
        }
    }
}

/// A RequestId, shaped as the service's (a UUID).
pub fn request_id() -> String {
    let h = format!("{:032x}", rand::random::<u128>());
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The HTTP answer carrying `Response` (HTTP 200, `application/json`).
pub fn respond(mut response: Value) -> Response {
    if let Some(o) = response.as_object_mut() {
        o.insert("RequestId".into(), json!(request_id()));
    }
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "Response": response }).to_string()))
        .unwrap_or_default()
}

/// The answer to an error.
pub fn error_response(e: &Api3Error) -> Response {
    respond(json!({"Error": {"Code": e.code, "Message": e.message}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_are_200_json_exactly() {
        let r = error_response(&fail(codes::SIGNATURE_FAILURE, "no"));
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let b = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["Response"]["Error"]["Code"], codes::SIGNATURE_FAILURE);
        assert_eq!(v["Response"]["RequestId"].as_str().unwrap().len(), 36);
    }
}
