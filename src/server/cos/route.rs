//! Routing of a COS request: the action name of its method (`CosPut`,
//! `CosPost`, `CosGet`, `CosDelete`), the request guard (`guard.rs`:
//! faults, the COS signature as its scheme, the rate limit, stats), then
//! dispatch by method and query to `object.rs` and `multipart.rs`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::Response;

use super::multipart;
use super::object::{
    CosError, Req, authenticate, check_upload, err, error_response, get_object, initiate,
    put_object, upload_part,
};
use crate::server::app::App;
use crate::server::faults::FaultKind;
use crate::server::guard::{self, Scheme};

/// True for a virtual-hosted COS Host (`<bucket>-<appId>.cos.<region>…`).
pub fn is_cos_host(host: &str) -> bool {
    host.split_once(".cos.").is_some_and(|(b, _)| !b.is_empty())
}

/// The COS request signature, as the request guard's scheme.
struct CosScheme<'a> {
    parts: &'a Parts,
    action: &'static str,
}

impl Scheme for CosScheme<'_> {
    type Caller = Req;
    type Error = CosError;

    async fn authenticate(&self, app: &App, body: Body) -> (Result<Req, CosError>, Body) {
        (authenticate(app, self.parts).await, body)
    }

    fn quota<'a>(&'a self, req: &'a Req) -> Option<(&'a str, &'a str)> {
        Some((&req.acct.secret_id, self.action))
    }

    fn rate_limited(&self) -> CosError {
        err(503, "SlowDown", "request limit exceeded")
    }

    fn fault(&self, kind: FaultKind) -> Response {
        let e = match kind {
            FaultKind::Limit => err(503, "SlowDown", "please reduce your request rate"),
            _ => err(503, "ServiceUnavailable", "injected fault"),
        };
        self.reject(e)
    }

    fn reject(&self, e: CosError) -> Response {
        error_response(e, self.parts.uri.path())
    }
}

/// Handles one COS request (its Host said so).
pub async fn handle(app: Arc<App>, parts: Parts, body: Body) -> Response {
    let action = match parts.method {
        Method::PUT => "CosPut",
        Method::POST => "CosPost",
        Method::DELETE => "CosDelete",
        _ => "CosGet",
    };
    let scheme = CosScheme {
        parts: &parts,
        action,
    };
    guard::enter(&app, action)
        .run(&scheme, body, |req, body| {
            dispatch(&app, &parts.method, &parts.headers, req, body)
        })
        .await
}

async fn dispatch(
    app: &Arc<App>,
    method: &Method,
    headers: &axum::http::HeaderMap,
    req: Req,
    body: Body,
) -> Result<Response, CosError> {
    let has = |n: &str| req.params.iter().any(|(k, _)| k == n);
    let bucket_listing = *method == Method::GET && has("uploads") && req.path == "/";
    if !bucket_listing && !req.in_scope() {
        crate::server::body::discard(body).await;
        return Err(err(
            403,
            "AccessDenied",
            "the temporary credential does not cover this object",
        ));
    }
    match (method.clone(), req.param("uploadId").map(str::to_string)) {
        (Method::GET, _) if has("uploads") && req.path == "/" => {
            multipart::list_uploads(app, &req).await
        }
        (Method::GET, Some(id)) => multipart::list_parts(app, &req, &id).await,
        (Method::GET | Method::HEAD, None) => get_object(app, &req, method == Method::HEAD).await,
        (Method::PUT, Some(id)) => upload_part(app, &req, &id, body).await,
        (Method::PUT, None) => put_object(app, &req, headers, body).await,
        (Method::POST, None) if has("uploads") => initiate(app, &req).await,
        (Method::POST, Some(id)) => multipart::complete(app, &req, &id, body).await,
        (Method::DELETE, Some(id)) => {
            check_upload(app, &req, &id).await?;
            app.db(move |s| s.delete_multipart(&id)).await?;
            Ok(Response::builder()
                .status(204)
                .body(Body::empty())
                .unwrap_or_default())
        }
        _ => Err(err(
            405,
            "MethodNotAllowed",
            "operation not supported by vodfs serve",
        )),
    }
}
