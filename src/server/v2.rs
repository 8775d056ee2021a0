//! The `/v2/index.php` and `/v3/index.php` endpoint: parameter parsing, the
//! v2 signature check, replay guard, rate limit, faults, and dispatch by
//! `Action` to the families A, B (`ugc.rs`) and C (`cos.rs`).
//!
//! Parameters come from the query string. Only when the query names no
//! Action and a POST carries a form body (vod.api style, protocol.md §1.2)
//! is the body form-decoded; upload bodies never are. The signature is
//! checked over the real method, the Host header as received and the path
//! as requested. Checks run in this order: Action known → signature fields
//! present → SecretId known (4104) → Timestamp in window (4500) → signature
//! (4100 / −10002) → Nonce unused (4500; recorded only once the signature
//! is valid, so strangers cannot burn nonces) → rate limit (4400).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::config::Account;
use super::error::{Dialect, ServerError, bad, v2_ok};
use super::faults::FaultKind;
use super::{App, family_a, ugc};
use crate::vod::rules::names::check_hex;
use crate::vod::rules::settings::MAX_TAGS;
use crate::vod::sign;

type Result<T> = std::result::Result<T, ServerError>;

/// Decoded request parameters, in received order.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub pairs: Vec<(String, String)>,
}

impl Params {
    /// Percent-decodes a query or form string (`+` is a space).
    pub fn parse(raw: &[u8]) -> Params {
        Params {
            pairs: url::form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn req(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| ServerError::MissingParam(name.to_string()))
    }

    pub fn u64(&self, name: &str) -> Result<u64> {
        self.req(name)?
            .trim()
            .parse()
            .map_err(|_| bad(name, "must be an unsigned integer"))
    }

    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| bad(name, "must be an integer"))
            })
            .transpose()
    }

    /// `tags.N`, `tag.N` or `tags_N` values in order of N.
    pub fn tags(&self) -> Vec<String> {
        let mut tags: Vec<(u32, String)> = self
            .pairs
            .iter()
            .filter_map(|(k, v)| {
                let n = k
                    .strip_prefix("tags.")
                    .or_else(|| k.strip_prefix("tag."))
                    .or_else(|| k.strip_prefix("tags_"))?;
                Some((n.parse().ok()?, v.clone()))
            })
            .collect();
        tags.sort();
        tags.into_iter().map(|(_, v)| v).take(MAX_TAGS).collect()
    }
}

/// The dialect of an action (which error codes it answers with).
pub fn dialect(action: &str) -> Dialect {
    match action {
        "ApplyUpload" | "CommitUpload" | "Report" => Dialect::Api,
        _ => Dialect::Vod2,
    }
}

const KNOWN: &[&str] = &[
    "InitUpload",
    "UploadPart",
    "FinishUpload",
    "SmallFileUpload",
    "Report",
    "InitUploadEx",
    "UploadPartEx",
    "FinishUploadEx",
    "InitUploadUGC",
    "UploadPartUGC",
    "FinishUploadUGC",
    "ApplyUpload",
    "CommitUpload",
];

pub fn json_response(status: u16, v: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(v.to_string()))
        .unwrap_or_default()
}

/// Handles one request to `/v2/index.php` or `/v3/index.php`.
pub async fn handle(
    app: Arc<App>,
    method: Method,
    headers: HeaderMap,
    path: String,
    query: Option<String>,
    body: Body,
) -> Response {
    let mut params = Params::parse(query.as_deref().unwrap_or("").as_bytes());
    let mut body = Some(body);
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if params.get("Action").is_none() && method == Method::POST && is_form {
        match super::body::read_small(body.take().unwrap_or_default(), 1 << 20).await {
            Ok(b) => params = Params::parse(&b),
            Err(e) => return json_response(200, &e.v2_body(Dialect::Api)),
        }
    }
    let action = params.get("Action").unwrap_or("").to_string();
    let d = dialect(&action);
    app.stats
        .request(if action.is_empty() { "?" } else { &action });
    let body = body.unwrap_or_default();
    if action.is_empty() {
        super::body::discard(body).await;
        return json_response(
            200,
            &ServerError::MissingParam("Action".into()).v2_body(Dialect::Api),
        );
    }
    if !KNOWN.contains(&action.as_str()) {
        super::body::discard(body).await;
        return json_response(200, &ServerError::UnknownAction(action).v2_body(d));
    }
    let mut drop_reply = false;
    if let Some((kind, slow_ms)) = app.faults.draw(&action) {
        tracing::info!(?kind, action, "injecting fault");
        match kind {
            FaultKind::Slow => tokio::time::sleep(std::time::Duration::from_millis(slow_ms)).await,
            FaultKind::Drop => drop_reply = true,
            FaultKind::Http5xx => {
                super::body::discard(body).await;
                return Response::builder()
                    .status(503)
                    .body(Body::empty())
                    .unwrap_or_default();
            }
            FaultKind::Negative | FaultKind::Limit => {
                super::body::discard(body).await;
                let e = if kind == FaultKind::Limit {
                    ServerError::RateLimited(action.clone())
                } else {
                    ServerError::InjectedFault
                };
                return json_response(200, &e.v2_body(d));
            }
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let result = dispatch(&app, &action, &method, &host, &path, &params, body).await;
    let out = match result {
        Ok(v) => v,
        Err(e) => {
            app.stats.error(&action);
            e.v2_body(d)
        }
    };
    let resp = json_response(200, &out);
    if drop_reply {
        super::drop_mid_body(resp).await
    } else {
        resp
    }
}

async fn dispatch(
    app: &Arc<App>,
    action: &str,
    method: &Method,
    host: &str,
    path: &str,
    p: &Params,
    body: Body,
) -> Result<Value> {
    match action {
        "InitUploadEx" | "InitUploadUGC" | "UploadPartEx" | "UploadPartUGC" | "FinishUploadEx"
        | "FinishUploadUGC" => return ugc::handle(app, action, p, body).await,
        _ => {}
    }
    let acct = match authenticate(app, method.as_str(), host, path, p) {
        Ok(a) => a,
        Err(e) => {
            super::body::discard(body).await;
            return Err(e);
        }
    };
    if !app
        .limiter
        .admit(&acct.secret_id, action, super::unix_now())
    {
        super::body::discard(body).await;
        return Err(ServerError::RateLimited(action.to_string()));
    }
    let sid = acct.secret_id.as_str();
    match action {
        "InitUpload" => family_a::init_upload_a(app, sid, p).await,
        "UploadPart" => {
            let sha = check_hex("fileSha", p.req("fileSha")?, 40)?;
            let (offset, size) = (p.u64("offset")?, p.u64("dataSize")?);
            family_a::upload_part(app, sid, &sha, offset, size, p.req("dataMd5")?, body).await
        }
        "FinishUpload" => {
            let m = family_a::finish_upload(app, sid, p.req("fileSha")?).await?;
            Ok(v2_ok(json!({"fileId": m.file_id, "url": family_a::media_url(app, &m), "sessionInfo": ""})))
        }
        "SmallFileUpload" => family_a::small_file_upload(app, sid, p, body).await.map(v2_ok),
        "Report" => Ok(v2_ok(json!({}))),
        "ApplyUpload" => super::cos::apply_upload(app, &acct, p).await.map(v2_ok),
        "CommitUpload" => super::cos::commit_upload(app, &acct, p).await.map(v2_ok),
        _ => Err(ServerError::UnknownAction(action.to_string())),
    }
    .map(|v| if v.get("codeDesc").is_none() { v2_ok(v) } else { v })
}

/// Checks the v2 common parameters and signature; the caller's account.
pub fn authenticate(
    app: &App,
    method: &str,
    host: &str,
    path: &str,
    p: &Params,
) -> Result<Account> {
    let secret_id = p.req("SecretId")?;
    let signature = p.req("Signature")?;
    let timestamp = p.req("Timestamp")?;
    let nonce = p.req("Nonce")?;
    p.req("Region")?;
    if nonce.parse::<u64>().is_err() {
        return Err(bad("Nonce", "must be a positive integer"));
    }
    let acct = app
        .cfg
        .account_by_id(secret_id)
        .ok_or(ServerError::UnknownSecretId)?
        .clone();
    let ts: u64 = timestamp
        .parse()
        .map_err(|_| bad("Timestamp", "must be Unix seconds"))?;
    let now = super::unix_now();
    if ts.abs_diff(now) > app.cfg.replay_window_secs {
        return Err(ServerError::StaleTimestamp(timestamp.to_string()));
    }
    if !sign::verify_v2(&acct.secret_key, method, host, path, &p.pairs, signature) {
        return Err(ServerError::BadSignature);
    }
    if !app
        .nonces
        .check_and_insert(secret_id, nonce, now, app.cfg.replay_window_secs)
    {
        return Err(ServerError::ReplayedNonce(nonce.to_string()));
    }
    Ok(acct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_in_order() {
        let p = Params::parse(b"tags.2=b&tag.1=a&x=1&tags_3=c&tags.x=no");
        assert_eq!(p.tags(), vec!["a", "b", "c"]);
        assert!(matches!(p.u64("x"), Ok(1)));
        assert!(matches!(p.u64("y"), Err(ServerError::MissingParam(_))));
        assert!(matches!(p.u64("tags.2"), Err(ServerError::BadParam { .. })));
    }

    proptest! {
        #[test]
        fn query_parser_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            let p = Params::parse(&raw);
            for name in ["fileSize", "offset", "classId"] {
                match p.u64(name) {
                    Ok(_) | Err(ServerError::MissingParam(_)) | Err(ServerError::BadParam { .. }) => {}
                    Err(e) => prop_assert!(false, "undocumented error {e}"),
                }
                let _ = p.opt_i64(name);
            }
            let _ = p.tags();
        }
    }
}
