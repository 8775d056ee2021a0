//! Family F: the frontwize (QingCloud VOD) REST flow.
//!
//! - `POST /v1/media` (JSON: Title, Region, MediaType, …) → `{MediaId,
//!   StorageBucket, StorageRegion, StoragePath, ret_code}`; StoragePath is a
//!   presigned PUT URL on this service, `<public>/fw-upload/vod/<MediaId>.<ext>
//!   ?X-Qvod-Expires=<unix>&X-Qvod-Signature=<hex>`, valid `presign_ttl_secs`
//!   (180 s, as in the vendor's example).
//! - `PUT` of the bytes to StoragePath (no Authorization; the URL is the
//!   credential).
//! - `POST /api/v1/media/<MediaId>/uploaded` (JSON `{Status}`, optional
//!   `source` header) → `{MediaId, PlayUrl, ret_code}`; PlayUrl is
//!   `<public>/vod/<MediaId>.<ext>`, null unless Status is CREATED.
//!
//! Authorization (our design, `doc/frontwize-auth.md`): `QVOD-HMAC-SHA256
//! Credential=<SecretId>, Signature=<hex>` over method, path, the
//! `X-Qvod-Date` header (Unix seconds, ±5 min) and SHA-256 of the body.
//! The upload PUT has no Authorization: its presigned URL is checked
//! instead. Both are the request guard's scheme for this family
//! (`guard.rs`); the API calls are rate-limited together as `FwApi`, the
//! PUT is not. Errors are HTTP ≥ 400 with `{code, message}`; every response
//! carries `x-qvod-request-id`. Title and MediaType are checked by the
//! rules the client follows (`vod::rules::media_types`; the generic
//! `application/octet-stream` is kept as `bin`).

use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::app::App;
use super::clock::unix_now;
use super::config::Account;
use super::error::ServerError;
use super::faults::FaultKind;
use super::guard::{self, Scheme};
use super::params::Params;
use super::store::{MediaRow, ObjectRow};
use crate::vod::rules::media_types::{MAX_TITLE_BYTES, extension_of};
use crate::vod::sign;

const BUCKET: &str = "frontwize";
const UPLOAD_PREFIX: &str = "/fw-upload/vod/";

/// True for the paths of this family.
pub fn owns(path: &str) -> bool {
    path == "/v1/media" || path.starts_with("/api/v1/media/") || path.starts_with(UPLOAD_PREFIX)
}

#[derive(Debug)]
pub struct FwError(u16, &'static str, String);

impl From<ServerError> for FwError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::BodyTooLarge(n) => {
                FwError(413, "EntityTooLarge", format!("body exceeds {n} bytes"))
            }
            other => {
                tracing::error!(error = ?other, "frontwize request failed");
                FwError(500, "InternalError", "internal failure".into())
            }
        }
    }
}

fn respond(status: u16, v: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            "x-qvod-request-id",
            format!("{:032x}", rand::random::<u128>()),
        )
        .body(Body::from(v.to_string()))
        .unwrap_or_default()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Applied {
    title: String,
    ext: String,
    description: String,
    category_id: i64,
}

/// Who sent a frontwize request.
enum Caller {
    /// `POST /v1/media`, `POST /api/v1/media/<id>/uploaded`: signed by an
    /// account, over the body read here.
    Api(Account, Vec<u8>, String),
    /// `PUT` to a presigned upload URL (the URL is the credential): the
    /// media and extension it names.
    Upload(String, String),
}

/// The request guard's scheme for family F: the Authorization header over
/// the body for the API calls, the presigned URL for the upload PUT.
struct FwScheme<'a> {
    parts: &'a Parts,
    action: &'static str,
}

impl Scheme for FwScheme<'_> {
    type Caller = Caller;
    type Error = FwError;

    async fn authenticate(&self, app: &App, body: Body) -> (Result<Caller, FwError>, Body) {
        match (&self.parts.method, self.action) {
            (&Method::PUT, "FwPut") => (check_upload_url(app, self.parts).await, body),
            (&Method::POST, "FwApply" | "FwCommit") => {
                let caller = authenticate(app, self.parts, body).await;
                (
                    caller.map(|(acct, bytes, nonce)| Caller::Api(acct, bytes, nonce)),
                    Body::empty(),
                )
            }
            _ => (
                Err(FwError(
                    405,
                    "MethodNotAllowed",
                    "method not allowed".into(),
                )),
                body,
            ),
        }
    }

    fn nonce<'a>(&'a self, caller: &'a Caller) -> Option<(&'a str, &'a str, FwError)> {
        let Caller::Api(acct, _, nonce) = caller else {
            return None;
        };
        let replay = FwError(
            401,
            "RequestReplayed",
            format!("X-Qvod-Nonce {nonce} was used already"),
        );
        Some((&acct.secret_id, nonce, replay))
    }

    fn quota<'a>(&'a self, caller: &'a Caller) -> Option<(&'a str, &'a str)> {
        match caller {
            Caller::Api(acct, ..) => Some((&acct.secret_id, "FwApi")),
            Caller::Upload(..) => None,
        }
    }

    fn rate_limited(&self) -> FwError {
        FwError(429, "RequestLimitExceeded", "too many requests".into())
    }

    fn fault(&self, kind: FaultKind) -> Response {
        match kind {
            FaultKind::Limit => self.reject(self.rate_limited()),
            _ => self.reject(FwError(503, "ServiceUnavailable", "injected fault".into())),
        }
    }

    fn reject(&self, FwError(status, code, message): FwError) -> Response {
        respond(status, &json!({"code": code, "message": message}))
    }
}

/// Handles one request of family F ([`owns`] said so).
pub async fn handle(app: Arc<App>, parts: Parts, body: Body) -> Response {
    let path = parts.uri.path();
    let action = if path.starts_with(UPLOAD_PREFIX) {
        "FwPut"
    } else if path == "/v1/media" {
        "FwApply"
    } else {
        "FwCommit"
    };
    let scheme = FwScheme {
        parts: &parts,
        action,
    };
    guard::enter(&app, action)
        .run(&scheme, body, |caller, body| async {
            let v = match caller {
                Caller::Upload(id, ext) => put(&app, &id, &ext, body).await?,
                Caller::Api(acct, bytes, _) if action == "FwApply" => {
                    apply(&app, &acct, &bytes).await?
                }
                Caller::Api(acct, bytes, _) => commit(&app, &parts, &acct, &bytes).await?,
            };
            Ok(respond(200, &v))
        })
        .await
}

/// Reads the (small) body and checks the Authorization over it.
async fn authenticate(
    app: &App,
    parts: &Parts,
    body: Body,
) -> Result<(Account, Vec<u8>, String), FwError> {
    let bytes = super::body::read_small(body, 64 << 10).await?;
    let unauthorized = |code, msg: &str| FwError(401, code, msg.to_string());
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            unauthorized(
                "MissingAuthorization",
                "the Authorization header is missing",
            )
        })?;
    let (id, sig) = sign::frontwize_parse_authorization(auth)
        .ok_or_else(|| unauthorized("AuthFailure", "the Authorization header is malformed"))?;
    let acct = app
        .cfg
        .account_by_id(&id)
        .ok_or_else(|| unauthorized("InvalidSecretId", "the SecretId does not exist"))?
        .clone();
    let date = parts
        .headers
        .get(sign::FRONTWIZE_DATE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("AuthFailure", "the X-Qvod-Date header is missing"))?;
    let ts: u64 = date
        .trim()
        .parse()
        .map_err(|_| unauthorized("AuthFailure", "X-Qvod-Date must be Unix seconds"))?;
    if ts.abs_diff(unix_now()) > app.cfg.replay_window_secs {
        return Err(unauthorized(
            "RequestExpired",
            "X-Qvod-Date is outside the allowed window",
        ));
    }
    let nonce = parts
        .headers
        .get(sign::FRONTWIZE_NONCE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|n| sign::frontwize_nonce_ok(n))
        .ok_or_else(|| unauthorized("AuthFailure", "X-Qvod-Nonce must be 1-64 of A-Za-z0-9_-"))?;
    let expected = sign::frontwize_signature(
        &acct.secret_key,
        parts.method.as_str(),
        parts.uri.path(),
        date,
        nonce,
        &bytes,
    );
    if !sign::constant_time_eq(expected.as_bytes(), sig.as_bytes()) {
        return Err(unauthorized(
            "SignatureDoesNotMatch",
            "the request signature does not match",
        ));
    }
    Ok((acct, bytes.to_vec(), nonce.to_string()))
}

fn invalid(msg: impl Into<String>) -> FwError {
    FwError(400, "InvalidParameter", msg.into())
}

async fn apply(app: &Arc<App>, acct: &Account, bytes: &[u8]) -> Result<Value, FwError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|_| invalid("the body is not JSON"))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str);
    let title = text("Title").ok_or_else(|| invalid("Title is required"))?;
    if title.is_empty() || title.len() > MAX_TITLE_BYTES {
        return Err(invalid(format!("Title must be 1-{MAX_TITLE_BYTES} bytes")));
    }
    text("Region")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| invalid("Region is required"))?;
    let media_type = text("MediaType").ok_or_else(|| invalid("MediaType is required"))?;
    let ext = extension_of(&media_type.to_ascii_lowercase())
        .ok_or_else(|| invalid(format!("MediaType {media_type} is not supported")))?;
    let applied = Applied {
        title: title.to_string(),
        ext: ext.to_string(),
        description: text("Description").unwrap_or_default().to_string(),
        category_id: v.get("CategoryId").and_then(Value::as_i64).unwrap_or(0),
    };
    let id = app.db(|s| s.alloc_ids(1)).await?.to_string();
    let body = serde_json::to_string(&applied).map_err(|e| ServerError::Internal(e.to_string()))?;
    let (i, sid) = (id.clone(), acct.secret_id.clone());
    app.db(move |s| s.insert_fw(&i, &sid, &body)).await?;
    let path = format!("{UPLOAD_PREFIX}{id}.{ext}");
    let expires = unix_now() + app.cfg.presign_ttl_secs;
    let sig = sign::frontwize_presign(&acct.secret_key, &path, expires);
    Ok(json!({
        "MediaId": id,
        "StorageBucket": "",
        "StorageRegion": "",
        "StoragePath": format!("{}{path}?X-Qvod-Expires={expires}&X-Qvod-Signature={sig}", app.cfg.public_url),
        "ret_code": 0,
    }))
}

/// Checks a presigned upload URL: it names an applied media, its signature
/// is the media owner's and it has not expired.
async fn check_upload_url(app: &App, parts: &Parts) -> Result<Caller, FwError> {
    let path = parts.uri.path();
    let checked = (|| {
        let name = path.strip_prefix(UPLOAD_PREFIX)?;
        let (id, ext) = name.split_once('.')?;
        id.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
        Some((id.to_string(), ext.to_string()))
    })();
    let q = Params::parse(parts.uri.query().unwrap_or("").as_bytes());
    let Some((id, ext)) = checked else {
        return Err(FwError(404, "MediaNotFound", "no such upload URL".into()));
    };
    let i = id.clone();
    let found = app.db(move |s| s.fw(&i)).await?;
    let Some((sid, _, state)) = found else {
        return Err(FwError(
            404,
            "MediaNotFound",
            format!("media {id} does not exist"),
        ));
    };
    let acct = app
        .cfg
        .account_by_id(&sid)
        .cloned()
        .ok_or(ServerError::UnknownSecretId)?;
    let expires: u64 = q
        .get("X-Qvod-Expires")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let sig = q.get("X-Qvod-Signature").unwrap_or("");
    let expected = sign::frontwize_presign(&acct.secret_key, path, expires);
    let refusal =
        if !sign::constant_time_eq(expected.as_bytes(), sig.to_ascii_lowercase().as_bytes()) {
            Some(FwError(
                403,
                "SignatureDoesNotMatch",
                "the upload URL signature does not match".into(),
            ))
        } else if expires <= unix_now() {
            Some(FwError(
                403,
                "RequestExpired",
                "the upload URL has expired".into(),
            ))
        } else if state != "APPLIED" {
            Some(FwError(
                409,
                "InvalidState",
                format!("media {id} is {state}"),
            ))
        } else {
            None
        };
    match refusal {
        Some(e) => Err(e),
        None => Ok(Caller::Upload(id, ext)),
    }
}

/// Receives the bytes of a checked upload URL.
async fn put(app: &Arc<App>, id: &str, ext: &str, body: Body) -> Result<Value, FwError> {
    let inc = super::body::receive(body, &app.store.tmp_dir(), app.cfg.max_body).await?;
    let oid = app.db(|s| s.reserve_object_id()).await?;
    let row = ObjectRow {
        id: oid,
        bucket: BUCKET.into(),
        key: format!("{id}.{ext}"),
        size: inc.len,
        md5: inc.md5.clone(),
        sha1: inc.sha1.clone(),
        etag: format!("\"{}\"", inc.md5),
        created_at: unix_now(),
    };
    app.db(move |s| {
        inc.persist_to(&s.object_path(oid))?;
        if let Some(old) = s.put_object(&row)? {
            s.remove_when_durable(s.object_path(old));
        }
        Ok(())
    })
    .await?;
    Ok(json!({"ret_code": 0}))
}

async fn commit(
    app: &Arc<App>,
    parts: &Parts,
    acct: &Account,
    bytes: &[u8],
) -> Result<Value, FwError> {
    let id = parts
        .uri
        .path()
        .strip_prefix("/api/v1/media/")
        .and_then(|r| r.strip_suffix("/uploaded"))
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| FwError(404, "MediaNotFound", "no such media".into()))?
        .to_string();
    let v: Value = serde_json::from_slice(bytes).map_err(|_| invalid("the body is not JSON"))?;
    let status = v
        .get("Status")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Status is required"))?;
    if !["CREATED", "FAILED", "CANCELLED"].contains(&status) {
        return Err(invalid("Status must be CREATED, FAILED or CANCELLED"));
    }
    let _guard = app.commit_lock.lock().await;
    let i = id.clone();
    let found = app.db(move |s| s.fw(&i)).await?;
    let Some((owner, body, state)) = found.filter(|(o, _, _)| *o == acct.secret_id) else {
        return Err(FwError(
            404,
            "MediaNotFound",
            format!("media {id} does not exist"),
        ));
    };
    let applied: Applied =
        serde_json::from_str(&body).map_err(|e| ServerError::Internal(e.to_string()))?;
    let play_url = format!("{}/vod/{id}.{}", app.cfg.public_url, applied.ext);
    match (state.as_str(), status) {
        ("COMMITTED", "CREATED") => {
            return Ok(json!({"MediaId": id, "PlayUrl": play_url, "ret_code": 0}));
        }
        ("APPLIED", "FAILED" | "CANCELLED") => {
            let (i, st) = (id.clone(), status.to_string());
            app.db(move |s| s.set_fw_state(&i, &st)).await?;
            return Ok(json!({"MediaId": id, "PlayUrl": null, "ret_code": 0}));
        }
        ("APPLIED", "CREATED") => {}
        _ => {
            return Err(FwError(
                409,
                "InvalidState",
                format!("media {id} is {state}"),
            ));
        }
    }
    let key = format!("{id}.{}", applied.ext);
    let obj = app
        .db(move |s| s.object(BUCKET, &key))
        .await?
        .ok_or_else(|| {
            FwError(
                409,
                "MediaNotUploaded",
                format!("media {id} has no uploaded bytes"),
            )
        })?;
    let source = parts.headers.get("source").and_then(|v| v.to_str().ok());
    let source = match source {
        Some("CONSOLE") => "CONSOLE",
        Some("SDK") => "SDK",
        _ => "API",
    };
    let media = MediaRow {
        file_id: id.clone(),
        secret_id: owner,
        kind: "video".into(),
        parent: None,
        name: applied.title.clone(),
        file_type: applied.ext.clone(),
        size: obj.size,
        sha1: obj.sha1.clone(),
        md5: obj.md5.clone(),
        class_id: applied.category_id,
        tags: Vec::new(),
        procedure: String::new(),
        source_context: source.to_string(),
        flow: "F".into(),
        created_at: unix_now(),
        url_path: format!("/vod/{id}.{}", applied.ext),
        cover_file_id: None,
    };
    let i = id.clone();
    app.db(move |s| {
        super::span::link(&s.object_path(obj.id), &s.media_path(&media.file_id))?;
        s.insert_media(&media, None)?;
        s.set_fw_state(&i, "COMMITTED")?;
        Ok(())
    })
    .await?;
    Ok(json!({"MediaId": id, "PlayUrl": play_url, "ret_code": 0}))
}
