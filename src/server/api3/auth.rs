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
//!   its `:port` (`SignatureFailure`); with `api3_strict_service`
//!   (`--strict-tc3-service`) a scope naming another service than `vod` is
//!   `InvalidAuthorization`. TC3 has no nonce, and an SDK that
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
            format!(
                "Your requests of `{}` exceed the frequency limit for a second. Please reduce the frequency of calls.",
                self.quota.trim_start_matches(API3_QUOTA_PREFIX)
            ),
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

/// A request signed for a Host this service does not answer to is refused
/// (a signature captured for another service is no good here). tccli sends
/// `Host: http://127.0.0.1:P` literally, so a scheme is looked past.
fn check_host(app: &App, host: &str) -> Result<(), Api3Error> {
    let name = host
        .strip_prefix("http://")
        .or_else(|| host.strip_prefix("https://"))
        .unwrap_or(host);
    if app.cfg.answers_to(name) {
        return Ok(());
    }
    Err(fail(
        codes::SIGNATURE_FAILURE,
        format!(
            "The request is signed for the Host `{}`, which this service does not answer to.",
            name.chars().take(64).collect::<String>()
        ),
    ))
}

async fn authenticate_tc3(app: &App, req: &Api3Request) -> Result<Account, Api3Error> {
    let auth = Tc3Auth::parse(req.header("authorization").unwrap_or(""))
        .map_err(|e| fail(codes::INVALID_AUTHORIZATION, e.to_string()))?;
    if app.cfg.api3_strict_service && auth.service != crate::vod::rules::api3::SERVICE {
        return Err(fail(
            codes::INVALID_AUTHORIZATION,
            format!(
                "The credential scope names the service `{}`, not `vod`.",
                auth.service.chars().take(32).collect::<String>()
            ),
        ));
    }
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
    check_host(app, &req.host)?;
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
    check_host(app, &req.host)?;
    let method = req.method.as_str();
    let ok = host_candidates(&req.host)
        .into_iter()
        .any(|h| v1::verify(&acct.secret_key, method, h, &req.pairs, signature));
    if !ok {
        return Err(fail(codes::SIGNATURE_FAILURE, SIGNATURE_MESSAGE));
    }
    let window = app.cfg.replay_window_secs;
    // Spent in the store, so a replay after a restart is one too; a nonce
    // that cannot be recorded fails closed.
    let fresh = app
        .spend_nonce(secret_id, nonce)
        .await
        .map_err(|e| fail(codes::INTERNAL_ERROR, e.to_string()))?;
    if !fresh {
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
    use crate::server::config::ServerConfig;
    use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};

    const VID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
    const VKEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

    fn vector_app(dir: &std::path::Path) -> App {
        let acct = Account {
            secret_id: VID.into(),
            secret_key: VKEY.into(),
            app_id: 1,
        };
        let mut c = ServerConfig::new(dir.to_path_buf(), "http://x".into(), acct);
        c.replay_window_secs = 4_000_000_000;
        App::open(c).expect("open")
    }

    fn request(method: Method, query: &str, headers: &[(&str, &str)], body: &[u8]) -> Api3Request {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let q = (!query.is_empty()).then(|| query.to_string());
        Api3Request::new(
            method,
            h,
            "/".into(),
            q,
            bytes::Bytes::copy_from_slice(body),
        )
    }

    fn tc3(ts: &str, host: &str, ct: &str, date: &str, sig: &str) -> Vec<(String, String)> {
        vec![
            ("host".into(), host.into()),
            ("content-type".into(), ct.into()),
            ("x-tc-timestamp".into(), ts.into()),
            (
                "authorization".into(),
                format!(
                    "TC3-HMAC-SHA256 Credential={VID}/{date}/vod/tc3_request, SignedHeaders=content-type;host, Signature={sig}"
                ),
            ),
        ]
    }

    async fn accepts(
        app: &App,
        method: Method,
        query: &str,
        h: &[(String, String)],
        body: &[u8],
    ) -> bool {
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let req = request(method, query, &h, body);
        match req.sig {
            SigKind::Tc3 => authenticate_tc3(app, &req).await.is_ok(),
            SigKind::V1 => authenticate_v1(app, &req).await.is_ok(),
            SigKind::None => false,
        }
    }

    /// The verifier side of every §1.6 vector (the signer side is in
    /// `vod::sign::tc3` and `vod::sign::v1`).
    #[tokio::test]
    async fn the_vectors_verify() {
        let dir = tempfile::tempdir().unwrap();
        let app = vector_app(dir.path());
        let v1 = br#"{"MediaType": "mp4", "MediaName": "\u6d4b\u8bd5 video", "SubAppId": 1500000001, "Procedure": "LongVideoPreset"}"#;
        let h = tc3(
            "1700000000",
            "vod.tencentcloudapi.com",
            "application/json",
            "2023-11-14",
            "bb99f039cdbb5b337a5ed80bd49995c2371e7c60394bfceb954d951cfbbb262c",
        );
        assert!(accepts(&app, Method::POST, "", &h, v1).await, "V1");
        assert!(
            !accepts(&app, Method::POST, "", &h, b"{}").await,
            "V1 with another body"
        );
        let q = "VodSessionKey=3KEGq9DWHl1xF819mM4jVFkGn5WON80N%2FrTrx56U%2BoEF%3D%3D&SubAppId=1500000001";
        let h = tc3(
            "1700000000",
            "vod.tencentcloudapi.com",
            "application/x-www-form-urlencoded",
            "2023-11-14",
            "830d7cd7e4eb11e28f1048a6253f00f1b21d47147dbabbe7918cbf94f15a75be",
        );
        assert!(accepts(&app, Method::GET, q, &h, b"").await, "V2");
        let v3 = br#"{"FileIds": ["5285890784000000001", "5285890784000000002"], "Filters": ["basicInfo", "metaData"]}"#;
        let mut h = tc3(
            "1717171717",
            "127.0.0.1:18931",
            "application/json",
            "2024-05-31",
            "4b48ea49aa87103fcace28f6776fd29fcfa02a8e8a93f8986e45f0a11d93df7e",
        );
        h.push(("x-tc-token".into(), "tmp-token+/=".into()));
        assert!(accepts(&app, Method::POST, "", &h, v3).await, "V3");
        let v4 =
            r#"{"MediaType":"mp4","MediaName":"测试 video","SubAppId":1500000001,"ClassId":0}"#;
        let h = tc3(
            "1700000000",
            "vod.tencentcloudapi.com:443",
            "application/json",
            "2023-11-14",
            "a0568bdddfb695527f6a88ae7a76c9e05c86ac419e4c4dda23a6e64ba3d5a442",
        );
        assert!(
            accepts(&app, Method::POST, "", &h, v4.as_bytes()).await,
            "V4, port stripped"
        );
        let v5 = "VodSessionKey=sess%2Bkey%2F1%3D&SubAppId=1500000001&Action=CommitUpload&RequestClient=SDK_PYTHON_3.1.195&Nonce=11886&Timestamp=1700000000&Version=2018-07-17&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&SignatureMethod=HmacSHA256&Language=zh-CN&Signature=xyjukdegUT4fojozFATG0pesq8VgQsQqcMEDySKD4QQ%3D";
        let h = vec![
            ("host".to_string(), "vod.tencentcloudapi.com".to_string()),
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ),
        ];
        assert!(
            accepts(&app, Method::POST, "", &h, v5.as_bytes()).await,
            "V5"
        );
        assert!(
            !accepts(&app, Method::POST, "", &h, v5.as_bytes()).await,
            "V5 replayed"
        );
    }

    #[tokio::test]
    async fn a_strict_service_refuses_another_scope() {
        let dir = tempfile::tempdir().unwrap();
        let mut app = vector_app(dir.path());
        let auth = |service: &str| {
            format!(
                "TC3-HMAC-SHA256 Credential={VID}/2023-11-14/{service}/tc3_request, SignedHeaders=content-type;host, Signature={}",
                "0".repeat(64)
            )
        };
        for (strict, service, code) in [
            (true, "127", codes::INVALID_AUTHORIZATION),
            (false, "127", codes::SIGNATURE_FAILURE),
            (true, "vod", codes::SIGNATURE_FAILURE),
        ] {
            app.cfg.api3_strict_service = strict;
            let a = auth(service);
            let h = [
                ("host", "h"),
                ("content-type", "application/json"),
                ("x-tc-timestamp", "1700000000"),
                ("authorization", a.as_str()),
            ];
            let req = request(Method::POST, "", &h, b"{}");
            assert_eq!(
                authenticate_tc3(&app, &req).await.unwrap_err().code,
                code,
                "{strict} {service}"
            );
        }
    }

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
