//! Routing of a COS request: the action name of its method (`CosPut`,
//! `CosPost`, `CosGet`, `CosDelete`), faults, the signature check, the rate
//! limit, then dispatch by method and query to `object.rs` and
//! `multipart.rs`.

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
use crate::server::clock::unix_now;
use crate::server::faults::FaultKind;
use crate::server::respond::drop_mid_body;

/// True for a virtual-hosted COS Host (`<bucket>-<appId>.cos.<region>…`).
pub fn is_cos_host(host: &str) -> bool {
    host.split_once(".cos.").is_some_and(|(b, _)| !b.is_empty())
}

pub async fn handle(app: Arc<App>, parts: Parts, body: Body) -> Response {
    let resource = parts.uri.path().to_string();
    let action = match parts.method {
        Method::PUT => "CosPut",
        Method::POST => "CosPost",
        Method::DELETE => "CosDelete",
        _ => "CosGet",
    };
    app.stats.request(action);
    let mut drop_reply = false;
    if let Some((kind, slow_ms)) = app.faults.draw(action) {
        match kind {
            FaultKind::Slow => tokio::time::sleep(std::time::Duration::from_millis(slow_ms)).await,
            FaultKind::Drop => drop_reply = true,
            FaultKind::Limit => {
                crate::server::body::discard(body).await;
                return error_response(
                    err(503, "SlowDown", "please reduce your request rate"),
                    &resource,
                );
            }
            FaultKind::Negative | FaultKind::Http5xx => {
                crate::server::body::discard(body).await;
                return error_response(err(503, "ServiceUnavailable", "injected fault"), &resource);
            }
        }
    }
    let result = match authenticate(&app, &parts) {
        Ok(req) => {
            if app.limiter.admit(&req.acct.secret_id, action, unix_now()) {
                dispatch(&app, &parts.method, &parts.headers, req, body).await
            } else {
                crate::server::body::discard(body).await;
                Err(err(503, "SlowDown", "request limit exceeded"))
            }
        }
        Err(e) => {
            crate::server::body::discard(body).await;
            Err(e)
        }
    };
    let resp = result.unwrap_or_else(|e| {
        app.stats.error(action);
        error_response(e, &resource)
    });
    if drop_reply {
        drop_mid_body(resp).await
    } else {
        resp
    }
}

async fn dispatch(
    app: &Arc<App>,
    method: &Method,
    headers: &axum::http::HeaderMap,
    req: Req,
    body: Body,
) -> Result<Response, CosError> {
    let has = |n: &str| req.params.iter().any(|(k, _)| k == n);
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
