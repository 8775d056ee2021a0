//! API 3.0 authentication, the request guard's scheme for the family
//! (protocol-api3.md §1.3, §1.4). Two signatures reach the endpoint:
//!
//! - **TC3-HMAC-SHA256** (`Authorization`): the header is parsed (rules 1
//!   and 2: `AuthFailure.InvalidAuthorization`), the SecretId looked up
//!   (`SecretIdNotFound`; a temporary credential of ours with a missing or
//!   wrong `X-TC-Token` is `TokenFailure`), `X-TC-Timestamp` must be within
//!   the replay window (`SignatureExpire`) and the scope's date its UTC
//!   date, then the signature is computed over the method, path, raw query,
//!   the headers of `SignedHeaders` *in the order sent* with their values
//!   as received, and the raw body (or `UNSIGNED-PAYLOAD`), with the
//!   service the scope names, trying the Host as received and then without
//!   its `:port` (`SignatureFailure`). TC3 has no nonce, and an SDK that
//!   retries within the same second sends the same signature, so there is
//!   no replay memory beyond the window.
//! - **v1** (`Signature` among the form or query parameters): the same
//!   checks on `SecretId`, `Timestamp` and `Token`, the signature over the
//!   parameters as received (`vod::sign::v1`), Host as received then
//!   without port, and the `Nonce` remembered for the window once the
//!   signature is valid (so strangers cannot burn nonces), as the v2
//!   endpoint does.
//!
//! A temporary credential (ApplyUpload's TempCertificate) is for COS only:
//! with its token it is `UnauthorizedOperation` here. Faults are answered
//! the family's way: `limit` → `RequestLimitExceeded`, `negative` →
//! `InternalError`, `5xx` → HTTP 503 (the SDKs' network error).

use axum::body::Body;
use axum::response::Response;

use super::reply::{Api3Error, error_response, fail};
use super::request::{Api3Request, SigKind};
use crate::server::app::App;
use crate::server::clock::unix_now;
use crate::server::config::{API3_QUOTA_PREFIX, Account};
use crate::server::faults::FaultKind;
use crate::server::guard::Scheme;
use crate::vod::rules::api3::codes;
use crate::vod::sign::tc3::{self, Tc3Auth, Tc3Request, UNSIGNED_PAYLOAD};
use crate::vod::sign::v1;

const SIGNATURE_MESSAGE: &str =
    "The provided credentials could not be validated. Please check your signature is correct.";

/// The request guard's scheme for API 3.0.
pub struct Api3Scheme<'a> {
    pub req: &'a Api3Request,
    /// `api3.<Action>` (the quota name).
    pub quota: String,
}

impl<'a> Api3Scheme<'a> {
    pub fn new(req: &'a Api3Request, action: &str) -> Self {
        Api3Scheme {
            req,
            quota: format!("{API3_QUOTA_PREFIX}{action}"),
        }
    }
}

impl Scheme for Api3Scheme<'_> {
    type Caller = Account;
    type Error = Api3Error;

    async fn authenticate(&self, app: &App, body: Body) -> (Result<Account, Api3Error>, Body) {
        let r = match self.req.sig {
            SigKind::Tc3 => authenticate_tc3(app, self.req).await,
            SigKind::V1 => authenticate_v1(app, self.req).await,
            SigKind::None => Err(fail(
                codes::INVALID_AUTHORIZATION,
                "The request carries no TC3-HMAC-SHA256 Authorization and no Signature.",
            )),
        };
        (r, body)
    }

    fn quota<'a>(&'a self, caller: &'a Account) -> Option<(&'a str, &'a str)> {
        Some((&caller.secret_id, &self.quota))
    }

    fn rate_limited(&self) -> Api3Error {
        fail(
            codes::REQUEST_LIMIT_EXCEEDED,
            "Your current request times equals to `100` in a second, which exceeds the frequency limit `100` for a second. Please reduce the frequency of calls.",
        )
    }

    fn fault(&self, kind: FaultKind) -> Response {
        match kind {
            FaultKind::Limit => self.reject(self.rate_limited()),
            FaultKind::Http5xx => Response::builder()
                .status(503)
                .body(Body::empty())
                .unwrap_or_default(),
            _ => self.reject(fail(codes::INTERNAL_ERROR, "injected fault")),
        }
    }

    fn reject(&self, e: Api3Error) -> Response {
        error_response(&e)
    }
}

/// The account of `secret_id`, checking a temporary credential's token.
async fn account_of(app: &App, secret_id: &str, token: Option<&str>) -> Result<Account, Api3Error> {
    if let Some(a) = app.cfg.account_by_id(secret_id) {
        return Ok(a.clone());
    }
    let sid = secret_id.to_string();
    let cred = app.db(move |s| s.temp_cred(&sid)).await?;
    match cred {
        None => Err(fail(
            codes::SECRET_ID_NOT_FOUND,
            "The SecretId is not found, please ensure that your SecretId is correct.",
        )),
        Some(c) if token != Some(c.token.as_str()) => Err(fail(
            codes::TOKEN_FAILURE,
            "The token of the temporary credential is missing or not valid.",
        )),
        Some(_) => Err(fail(
            "UnauthorizedOperation",
            "The temporary credential of an upload session is scoped to its COS objects.",
        )),
    }
}

fn check_window(app: &App, timestamp: Option<&str>) -> Result<u64, Api3Error> {
    let raw = timestamp.ok_or_else(|| {
        fail(
            codes::MISSING_PARAMETER,
            "The request is missing a required parameter `Timestamp`.",
        )
    })?;
    let ts: u64 = raw.trim().parse().map_err(|_| {
        fail(
            codes::INVALID_PARAMETER,
            "The parameter `Timestamp` must be Unix seconds.",
        )
    })?;
    if ts.abs_diff(unix_now()) > app.cfg.replay_window_secs {
        return Err(fail(
            codes::SIGNATURE_EXPIRE,
            format!(
                "Signature expired. Timestamp {ts} and the server time differ by more than {} seconds.",
                app.cfg.replay_window_secs
            ),
        ));
    }
    Ok(ts)
}

/// The Host as received, then without its `:port`.
fn host_candidates(host: &str) -> Vec<&str> {
    let mut v = vec![host];
    if let Some((h, port)) = host.rsplit_once(':')
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && !h.is_empty()
    {
        v.push(h);
    }
    v
}

async fn authenticate_tc3(app: &App, req: &Api3Request) -> Result<Account, Api3Error> {
    let auth = Tc3Auth::parse(req.header("authorization").unwrap_or(""))
        .map_err(|e| fail(codes::INVALID_AUTHORIZATION, e.to_string()))?;
    let acct = account_of(app, &auth.secret_id, req.header("x-tc-token")).await?;
    let ts = check_window(app, req.header("x-tc-timestamp"))?;
    if tc3::date_of(ts) != auth.date {
        return Err(fail(
            codes::SIGNATURE_FAILURE,
            format!(
                "The date of the credential scope {} is not the date of X-TC-Timestamp.",
                auth.date
            ),
        ));
    }
    let unsigned = req
        .header("x-tc-content-sha256")
        .is_some_and(|v| v == UNSIGNED_PAYLOAD);
    for host in host_candidates(&req.host) {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        for name in &auth.signed_headers {
            let value = if name == "host" {
                Some(host)
            } else {
                req.header(name)
            };
            match value {
                Some(v) => headers.push((name.as_str(), v)),
                None => {
                    return Err(fail(
                        codes::SIGNATURE_FAILURE,
                        format!("The signed header `{name}` is missing from the request."),
                    ));
                }
            }
        }
        let query = if req.method == axum::http::Method::GET {
            req.query.as_str()
        } else {
            ""
        };
        let signed = Tc3Request {
            method: req.method.as_str(),
            path: &req.path,
            query,
            headers: &headers,
            payload: &req.body,
            unsigned_payload: unsigned,
            timestamp: ts,
            service: &auth.service,
        };
        if auth.verify(&acct.secret_key, &signed) {
            return Ok(acct);
        }
    }
    Err(fail(codes::SIGNATURE_FAILURE, SIGNATURE_MESSAGE))
}

async fn authenticate_v1(app: &App, req: &Api3Request) -> Result<Account, Api3Error> {
    let param = |n: &str| {
        req.pairs
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let missing = |n: &str| {
        fail(
            codes::MISSING_PARAMETER,
            format!("The request is missing a required parameter `{n}`."),
        )
    };
    let secret_id = param("SecretId").ok_or_else(|| missing("SecretId"))?;
    let signature = param("Signature").ok_or_else(|| missing("Signature"))?;
    let nonce = param("Nonce").ok_or_else(|| missing("Nonce"))?;
    if nonce.parse::<u64>().is_err() {
        return Err(fail(
            codes::INVALID_PARAMETER,
            "The parameter `Nonce` must be a positive integer.",
        ));
    }
    let acct = account_of(app, secret_id, param("Token")).await?;
    check_window(app, param("Timestamp"))?;
    let method = req.method.as_str();
    let ok = host_candidates(&req.host)
        .into_iter()
        .any(|h| v1::verify(&acct.secret_key, method, h, &req.pairs, signature));
    if !ok {
        return Err(fail(codes::SIGNATURE_FAILURE, SIGNATURE_MESSAGE));
    }
    let window = app.cfg.replay_window_secs;
    if !app
        .nonces
        .check_and_insert(secret_id, nonce, unix_now(), window)
    {
        return Err(fail(
            codes::SIGNATURE_FAILURE,
            format!("The Nonce {nonce} was already used within the last {window} seconds."),
        ));
    }
    Ok(acct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_tried() {
        assert_eq!(
            host_candidates("127.0.0.1:18931"),
            vec!["127.0.0.1:18931", "127.0.0.1"]
        );
        assert_eq!(
            host_candidates("vod.tencentcloudapi.com"),
            vec!["vod.tencentcloudapi.com"]
        );
        assert_eq!(
            host_candidates("http://127.0.0.1:9"),
            vec!["http://127.0.0.1:9", "http://127.0.0.1"]
        );
    }
}
