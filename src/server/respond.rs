//! HTTP answers shared by the families: plain text, JSON, and the
//! "dropped mid-body" fault that breaks a complete answer halfway. Imports
//! nothing of the server.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

/// A `text/plain` answer (admin endpoints, the page, 404s).
pub fn plain(code: StatusCode, msg: &str) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(format!("{msg}\n")))
        .unwrap_or_default()
}

/// A JSON answer.
pub fn json_response(status: u16, v: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(v.to_string()))
        .unwrap_or_default()
}

/// Turns a complete response into one that declares its full length, sends
/// half of the body and then breaks the connection (the "dropped mid-body"
/// fault).
pub async fn drop_mid_body(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    let stream = futures::stream::iter(vec![
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected drop",
        )),
    ]);
    let mut resp = Response::from_parts(parts, Body::from_stream(stream));
    if let Ok(v) = HeaderValue::from_str(&bytes.len().to_string()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    resp
}
