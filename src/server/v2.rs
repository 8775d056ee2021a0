//! The `/v2/index.php` and `/v3/index.php` endpoint: the v2 signature check
//! and replay guard (the request guard's scheme for families A and C; B's
//! is the UGC signature, `ugc::claims_of`), and dispatch by `Action` to the
//! families A (`v4.rs`), B (`ugc.rs`) and C (`apply.rs`). Faults, rate
//! limits and stats are the request guard's (`guard.rs`).
//!
//! Parameters come from the query string. Only when the query names no
//! Action and a POST carries a form body (vod.api style, protocol.md §1.2)
//! is the body form-decoded; upload bodies never are. The signature is
//! checked over the real method, the Host header as received and the path
//! as requested. Checks run in this order: Action known → signature fields
//! present → SecretId known (4104) → Timestamp in window (4500) → signature
//! (4100 / −10002) → Host one the service answers to (`ServerConfig::answers_to`;
//! 4100 / −10002) → Nonce unused (4500; recorded only once the signature
//! is valid, so strangers cannot burn nonces) → rate limit (4400). Injected
//! faults are drawn after the Action is known, before the signature.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::app::App;
use super::clock::unix_now;
use super::config::Account;
use super::error::{Dialect, ServerError, bad, v2_ok};
use super::faults::FaultKind;
use super::guard::{self, Scheme};
use super::params::Params;
use super::respond::json_response;
use super::ugc::{self, UgcClaims};
use super::v4;
use crate::vod::rules::names::check_hex;
use crate::vod::sign;

type Result<T> = std::result::Result<T, ServerError>;

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
    // Counted under a name the service knows: an unknown Action, whatever
    // its text, is one counter (nothing a stranger sends is kept).
    let counted = match action.as_str() {
        "" => "?",
        a if KNOWN.contains(&a) => a,
        _ => "(unknown)",
    };
    let guard = guard::enter(&app, counted);
    let body = body.unwrap_or_default();
    if action.is_empty() {
        super::body::discard(body).await;
        return json_response(
            200,
            &ServerError::MissingParam("Action".into()).v2_body(Dialect::Vod2),
        );
    }
    if !KNOWN.contains(&action.as_str()) {
        super::body::discard(body).await;
        return json_response(200, &ServerError::UnknownAction(action).v2_body(d));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let scheme = V2Scheme {
        ugc: UGC_ACTIONS.contains(&action.as_str()),
        action: &action,
        dialect: d,
        method: &method,
        host: &host,
        path: &path,
        params: &params,
    };
    guard
        .run(&scheme, body, |caller, body| async {
            let v = dispatch(&app, &action, &params, caller, body).await?;
            Ok(json_response(200, &v))
        })
        .await
}

/// The actions of family B, authenticated by their UGC signature only.
const UGC_ACTIONS: &[&str] = &[
    "InitUploadEx",
    "InitUploadUGC",
    "UploadPartEx",
    "UploadPartUGC",
    "FinishUploadEx",
    "FinishUploadUGC",
];

/// Who sent a v2/v3 request.
enum Caller {
    /// Families A and C: the v2 signature of an account.
    Signed(Account),
    /// Family B: the claims of a UGC signature.
    Ugc(UgcClaims),
}

/// The request guard's scheme for the v2/v3 endpoint: the v2 signature
/// (with Timestamp window and Nonce), or for family B the UGC signature.
struct V2Scheme<'a> {
    ugc: bool,
    action: &'a str,
    dialect: Dialect,
    method: &'a Method,
    host: &'a str,
    path: &'a str,
    params: &'a Params,
}

impl Scheme for V2Scheme<'_> {
    type Caller = Caller;
    type Error = ServerError;

    async fn authenticate(&self, app: &App, body: Body) -> (Result<Caller>, Body) {
        let caller = if self.ugc {
            ugc::claims_of(app, self.params).map(Caller::Ugc)
        } else {
            let (m, h, p) = (self.method.as_str(), self.host, self.path);
            authenticate(app, m, h, p, self.params).map(Caller::Signed)
        };
        (caller, body)
    }

    fn nonce<'a>(&'a self, caller: &'a Caller) -> Option<(&'a str, &'a str, ServerError)> {
        let Caller::Signed(acct) = caller else {
            return None;
        };
        let nonce = self.params.get("Nonce")?;
        let replay = ServerError::ReplayedNonce(nonce.to_string());
        Some((&acct.secret_id, nonce, replay))
    }

    fn quota<'a>(&'a self, caller: &'a Caller) -> Option<(&'a str, &'a str)> {
        let secret_id = match caller {
            Caller::Signed(acct) => &acct.secret_id,
            Caller::Ugc(claims) => &claims.secret_id,
        };
        Some((secret_id, self.action))
    }

    fn rate_limited(&self) -> ServerError {
        ServerError::RateLimited(self.action.to_string())
    }

    fn fault(&self, kind: FaultKind) -> Response {
        match kind {
            FaultKind::Limit => self.reject(self.rate_limited()),
            FaultKind::Http5xx => Response::builder()
                .status(503)
                .body(Body::empty())
                .unwrap_or_default(),
            _ => self.reject(ServerError::InjectedFault),
        }
    }

    fn reject(&self, e: ServerError) -> Response {
        json_response(200, &e.v2_body(self.dialect))
    }
}

/// Runs the action of an authenticated, admitted caller.
async fn dispatch(
    app: &Arc<App>,
    action: &str,
    p: &Params,
    caller: Caller,
    body: Body,
) -> Result<Value> {
    let acct = match caller {
        Caller::Ugc(claims) => return ugc::handle(app, action, claims, p, body).await,
        Caller::Signed(acct) => acct,
    };
    let sid = acct.secret_id.as_str();
    match action {
        "InitUpload" => v4::init_upload_a(app, sid, p).await,
        "UploadPart" => {
            let sha = check_hex("fileSha", p.req("fileSha")?, 40)?;
            let (offset, size) = (p.u64("offset")?, p.u64("dataSize")?);
            v4::upload_part(app, sid, &sha, offset, size, p.req("dataMd5")?, body).await
        }
        "FinishUpload" => {
            let m = v4::finish_upload(app, sid, p.req("fileSha")?).await?;
            Ok(v2_ok(
                json!({"fileId": m.file_id, "url": v4::media_url(app, &m), "sessionInfo": ""}),
            ))
        }
        "SmallFileUpload" => v4::small_file_upload(app, sid, p, body).await.map(v2_ok),
        "Report" => Ok(v2_ok(json!({}))),
        "ApplyUpload" => super::apply::apply_upload(app, &acct, p).await.map(v2_ok),
        "CommitUpload" => super::apply::commit_upload(app, &acct, p).await.map(v2_ok),
        _ => Err(ServerError::UnknownAction(action.to_string())),
    }
    .map(|v| {
        if v.get("codeDesc").is_none() {
            v2_ok(v)
        } else {
            v
        }
    })
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
    if let Some(m) = p.get("SignatureMethod")
        && m != "HmacSHA1"
        && m != "HmacSHA256"
    {
        return Err(bad("SignatureMethod", "must be HmacSHA1 or HmacSHA256"));
    }
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
    let now = unix_now();
    if ts.abs_diff(now) > app.cfg.replay_window_secs {
        return Err(ServerError::StaleTimestamp(timestamp.to_string()));
    }
    if !sign::verify_v2(&acct.secret_key, method, host, path, &p.pairs, signature) {
        return Err(ServerError::BadSignature);
    }
    // Signed, but for another service: a capture from elsewhere.
    if !app.cfg.answers_to(host) {
        return Err(ServerError::ForeignHost(host.to_string()));
    }
    // The nonce is spent by the request guard (`V2Scheme::nonce`).
    Ok(acct)
}
