//! One family D request, start to end: the Action from the query, the
//! JSON body read (bounded: [`rules::MAX_BODY`]; 10001 beyond), counted
//! under its action, then the request guard (faults, the client signature
//! of `auth.rs`, the per-minute quota of the action) and the action; CORS
//! for the browser SDK.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::{Map, Value};

use super::auth::UgcDScheme;
use super::reply::{UgcDError, error_response, invalid, respond};
use super::{apply, commit};
use crate::server::app::App;
use crate::server::body;
use crate::server::guard;
use crate::vod::rules::ugc_d as rules;

/// The family D action a `/v2|v3/index.php` query names, if it does.
pub fn action_of(query: Option<&str>) -> Option<&'static str> {
    let q = query?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "Action")
        .and_then(|(_, v)| rules::ACTIONS.iter().find(|a| **a == v).copied())
}

/// Handles one family D request (the router saw its Action).
///
/// The browser SDK calls from any web page, so the answers allow any
/// origin (CORS) and a preflight is answered: the calls are authenticated
/// by the signature in their body, never by anything a browser adds.
pub async fn handle(app: Arc<App>, action: &'static str, parts: Parts, body: Body) -> Response {
    if parts.method == Method::OPTIONS {
        body::discard(body).await;
        return cors(
            Response::builder()
                .status(204)
                .header("access-control-allow-methods", "POST, OPTIONS")
                .header("access-control-allow-headers", "content-type")
                .header("access-control-max-age", "600")
                .body(Body::empty())
                .unwrap_or_default(),
        );
    }
    cors(answer(app, action, parts, body).await)
}

fn cors(mut r: Response) -> Response {
    r.headers_mut().insert(
        "access-control-allow-origin",
        axum::http::HeaderValue::from_static("*"),
    );
    r
}

async fn answer(app: Arc<App>, action: &'static str, parts: Parts, body: Body) -> Response {
    let guard = guard::enter(&app, action);
    let fields = match read(body, &parts).await {
        Ok(f) => f,
        Err(e) => {
            app.stats.error(action);
            return error_response(&e);
        }
    };
    let scheme = UgcDScheme {
        action,
        body: &fields,
    };
    let (app_ref, fields_ref) = (&app, &fields);
    guard
        .run(&scheme, Body::empty(), |caller, _| async move {
            let data = match action {
                rules::APPLY => apply::apply(app_ref, &caller, fields_ref).await?,
                rules::COMMIT => {
                    let key = apply::string(fields_ref, "vodSessionKey")?
                        .ok_or_else(|| invalid("missing parameter vodSessionKey"))?;
                    commit::commit(app_ref, &caller, &key).await?
                }
                _ => apply::prepare(&caller),
            };
            Ok(respond(data))
        })
        .await
}

/// The request's JSON object (a POST body; 10001 when it is none).
async fn read(body: Body, parts: &Parts) -> Result<Map<String, Value>, UgcDError> {
    if parts.method != Method::POST {
        body::discard(body).await;
        return Err(invalid("family D calls are POSTs with a JSON body"));
    }
    let bytes = body::read_small(body, rules::MAX_BODY).await?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid("the body must be a JSON object")),
    }
}
