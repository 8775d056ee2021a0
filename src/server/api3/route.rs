//! One API 3.0 request, start to end: the body read (bounded: API bodies
//! are small, `RequestSizeLimitExceeded` beyond [`MAX_API_BODY`]), the
//! request taken apart (`request.rs`), counted under its action, then the
//! request guard (faults, the TC3 / v1 scheme of `auth.rs`, the per-second
//! quota `api3.<Action>`), then the version and action checks (rule 8:
//! only after authentication) and the action.

use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::Value;

use super::auth::Api3Scheme;
use super::media;
use super::reply::{Api3Error, error_response, fail, respond};
use super::request::{Api3Request, Args};
use super::upload;
use crate::server::app::App;
use crate::server::body;
use crate::server::guard;
use crate::vod::rules::api3::{VERSION, codes};

/// The largest API 3.0 request body accepted.
pub const MAX_API_BODY: u64 = 1 << 20;

/// The actions this service implements.
pub const ACTIONS: &[&str] = &[
    "ApplyUpload",
    "CommitUpload",
    "DescribeMediaInfos",
    "DeleteMedia",
];

/// Handles one API 3.0 request (`POST /` or `GET /?…`).
pub async fn handle(app: Arc<App>, parts: Parts, body: Body) -> Response {
    let bytes = match body::read_small(body, MAX_API_BODY).await {
        Ok(b) => b,
        Err(e) => {
            app.stats.request("api3:unknown");
            app.stats.error("api3:unknown");
            return error_response(&Api3Error::from(e));
        }
    };
    let req = Api3Request::new(
        parts.method,
        parts.headers,
        parts.uri.path().to_string(),
        parts.uri.query().map(str::to_string),
        bytes,
    );
    // Statistics and faults by action name, for the names we know only
    // (a stranger's names must not grow the counters).
    let action = ACTIONS
        .iter()
        .find(|a| **a == req.action)
        .copied()
        .unwrap_or("api3:unknown");
    let scheme = Api3Scheme::new(&req, action);
    let (app_ref, req_ref) = (&app, &req);
    guard::enter(&app, action)
        .run(&scheme, Body::empty(), |acct, _| async move {
            let v = dispatch(app_ref, req_ref, &acct).await?;
            Ok(respond(v))
        })
        .await
}

async fn dispatch(
    app: &Arc<App>,
    req: &Api3Request,
    acct: &crate::server::config::Account,
) -> Result<Value, Api3Error> {
    if req.action.is_empty() {
        return Err(fail(
            codes::MISSING_PARAMETER,
            "The request is missing a required parameter `Action`.",
        ));
    }
    if !ACTIONS.contains(&req.action.as_str()) {
        return Err(fail(
            codes::INVALID_ACTION,
            format!("The action `{}` does not exist.", cut(&req.action)),
        ));
    }
    if req.version != VERSION {
        return Err(fail(
            codes::NO_SUCH_VERSION,
            format!(
                "The API version `{}` does not exist; VOD's is {VERSION}.",
                cut(&req.version)
            ),
        ));
    }
    let args: Args = req.args()?;
    match req.action.as_str() {
        "ApplyUpload" => upload::apply_upload(app, acct, &args).await,
        "CommitUpload" => upload::commit_upload(app, acct, &args).await,
        "DescribeMediaInfos" => media::describe_media_infos(app, acct, &args).await,
        "DeleteMedia" => media::delete_media(app, acct, &args).await,
        _ => Err(fail(codes::INVALID_ACTION, "The action does not exist.")),
    }
}

/// A client's string in a message, cut short.
fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}
