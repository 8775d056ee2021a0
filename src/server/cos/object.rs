//! COS objects: PUT Object, Initiate multipart, Upload Part, GET/HEAD
//! Object, the request signature check (`authenticate`: `Authorization`
//! header or `q-*` query parameters, SecretId of the bucket's account or
//! an API 3.0 temporary credential of it with its `x-cos-security-token`,
//! signed or not — 403 `InvalidAccessKeyId` without it, 403 `ExpiredToken`
//! once it expired, 403 `AccessDenied` outside its session's keys —, key
//! time covering now, every listed header and parameter present, HMAC
//! match), the key check ([`decode_key`]: the percent-decoded path, valid
//! UTF-8 with no `.`/`..` segment or NUL, only ever a database key, so no
//! key can name a file outside the data dir) and the COS-style XML answers
//! ([`CosError`], `xml`; every XML body is written, and the client's read,
//! by the types of `vod::rules::cos_xml`, which the apply client uses too).
//! Multipart completion and listings are in `multipart.rs`, the routing in
//! `route.rs`. Imports the server's shared pieces (app, config, error,
//! store, body, clock), `vod::sign` and `vod::rules`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;

use crate::server::app::App;
use crate::server::body;
use crate::server::clock::unix_now;
use crate::server::config::Account;
use crate::server::error::ServerError;
use crate::server::playback::{RangeOutcome, parse_range};
use crate::server::store::{self, ObjectRow};
use crate::server::store_api3::TempCred;
use crate::vod::rules::cos_xml;
use crate::vod::sign::CosAuth;

/// A COS error answer.
#[derive(Debug)]
pub struct CosError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub(super) fn err(status: u16, code: &'static str, message: impl Into<String>) -> CosError {
    CosError {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        code,
        message: message.into(),
    }
}

impl From<ServerError> for CosError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::BodyTooLarge(n) => {
                err(400, "EntityTooLarge", format!("body exceeds {n} bytes"))
            }
            other => {
                tracing::error!(error = ?other, "cos request failed");
                err(500, "InternalError", "internal failure")
            }
        }
    }
}

fn request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub(super) fn xml(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/xml")
        .header("x-cos-request-id", request_id())
        .body(Body::from(format!("{}{body}", cos_xml::DECLARATION)))
        .unwrap_or_default()
}

pub(super) fn error_response(e: CosError, resource: &str) -> Response {
    let body = cos_xml::Error {
        code: e.code.to_string(),
        message: e.message,
        resource: resource.to_string(),
        request_id: request_id(),
    };
    xml(e.status, body.to_xml())
}

/// Decodes and checks an object key path (`/a/b.mp4`).
pub fn decode_key(raw_path: &str) -> Result<String, CosError> {
    let bad = || err(400, "InvalidURI", "object key is not valid");
    let decoded = percent_encoding::percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| bad())?;
    if decoded.len() > 850 || decoded.contains('\0') || !decoded.starts_with('/') {
        return Err(bad());
    }
    if decoded.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(bad());
    }
    Ok(decoded.into_owned())
}

pub(super) struct Req {
    pub(super) acct: Account,
    pub(super) bucket: String,
    /// Decoded path, `/key`.
    pub(super) path: String,
    pub(super) params: Vec<(String, String)>,
    /// Signed with an API 3.0 temporary credential: the object keys it
    /// may touch (None: the account's own key, every key).
    pub(super) scope: Option<Vec<String>>,
}

impl Req {
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn key(&self) -> &str {
        self.path.trim_start_matches('/')
    }

    /// Whether the credential may touch this request's object.
    pub(super) fn in_scope(&self) -> bool {
        self.scope
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| k == self.key()))
    }
}

/// Longest key time a COS signature may span, seconds (90 days).
const MAX_KEY_TIME: u64 = 7_776_000;

pub(super) async fn authenticate(app: &App, parts: &Parts) -> Result<Req, CosError> {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bucket = host.split_once(".cos.").map(|(b, _)| b).unwrap_or("");
    let acct = app
        .cfg
        .account_by_bucket(bucket)
        .ok_or_else(|| {
            err(
                404,
                "NoSuchBucket",
                format!("bucket {bucket} does not exist"),
            )
        })?
        .clone();
    let path = decode_key(parts.uri.path())?;
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let auth_text = match parts.headers.get(header::AUTHORIZATION) {
        Some(v) => v.to_str().unwrap_or("").to_string(),
        None => params
            .iter()
            .filter(|(k, _)| k.starts_with("q-"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&"),
    };
    let auth = CosAuth::parse(&auth_text)
        .ok_or_else(|| err(403, "AccessDenied", "missing or malformed Authorization"))?;
    let (secret_key, temp) = if auth.secret_id == acct.secret_id {
        (acct.secret_key.clone(), None)
    } else {
        temporary(app, parts, bucket, &auth.secret_id).await?
    };
    let now = unix_now();
    if now < auth.window.0 || now > auth.window.1 {
        return Err(err(403, "AccessDenied", "request has expired"));
    }
    // A key for longer than any signature of the protocol lives (90 days,
    // protocol.md §3.1 [INF for COS]) is refused, and so is a signature
    // that leaves the Host out (it could be replayed against any bucket
    // host that shares the key).
    if auth.window.1 - auth.window.0 > MAX_KEY_TIME {
        return Err(err(
            403,
            "AccessDenied",
            format!("q-key-time spans more than {MAX_KEY_TIME} seconds"),
        ));
    }
    if !auth.header_list.iter().any(|h| h == "host") {
        return Err(err(403, "AccessDenied", "q-header-list must include host"));
    }
    let mut signed_headers = Vec::new();
    for name in &auth.header_list {
        let v = parts
            .headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                err(
                    403,
                    "SignatureDoesNotMatch",
                    format!("signed header {name} is missing"),
                )
            })?;
        signed_headers.push((name.clone(), v.to_string()));
    }
    let mut signed_params = Vec::new();
    for name in &auth.param_list {
        let v = params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                err(
                    403,
                    "SignatureDoesNotMatch",
                    format!("signed parameter {name} is missing"),
                )
            })?;
        signed_params.push((name.clone(), v));
    }
    if !auth.verify(
        &secret_key,
        parts.method.as_str(),
        &path,
        &signed_params,
        &signed_headers,
    ) {
        return Err(err(
            403,
            "SignatureDoesNotMatch",
            "the request signature does not match",
        ));
    }
    let scope = match temp {
        Some(c) if c.expires_at <= now => {
            return Err(err(
                403,
                "ExpiredToken",
                format!("the temporary credential expired at {}", c.expires_at),
            ));
        }
        Some(c) => Some(c.keys),
        None => None,
    };
    Ok(Req {
        acct,
        bucket: bucket.to_string(),
        path,
        params,
        scope,
    })
}

/// The key of an API 3.0 temporary credential for `bucket`, and the
/// credential: it must be one of ours, of this bucket, and come with its
/// token in `x-cos-security-token` (signed or not). Its expiry and scope
/// are checked once the signature is.
async fn temporary(
    app: &App,
    parts: &Parts,
    bucket: &str,
    secret_id: &str,
) -> Result<(String, Option<TempCred>), CosError> {
    let sid = secret_id.to_string();
    let Some(cred) = app.db(move |s| s.temp_cred(&sid)).await? else {
        return Err(err(
            403,
            "InvalidAccessKeyId",
            "the SecretId is neither the bucket owner's nor a temporary credential of it",
        ));
    };
    if cred.bucket != bucket {
        return Err(err(
            403,
            "AccessDenied",
            "the temporary credential is not for this bucket",
        ));
    }
    let token = parts
        .headers
        .get("x-cos-security-token")
        .and_then(|v| v.to_str().ok());
    match token {
        None => Err(err(
            403,
            "InvalidAccessKeyId",
            "a temporary credential needs its token in x-cos-security-token",
        )),
        Some(t) if !crate::vod::sign::constant_time_eq(t.as_bytes(), cred.token.as_bytes()) => {
            Err(err(
                403,
                "InvalidAccessKeyId",
                "the x-cos-security-token is not the temporary credential's",
            ))
        }
        Some(_) => Ok((cred.secret_key.clone(), Some(cred))),
    }
}

fn etag_response(etag: &str) -> Response {
    Response::builder()
        .status(200)
        .header(header::ETAG, etag)
        .header("x-cos-request-id", request_id())
        .body(Body::empty())
        .unwrap_or_default()
}

/// What a stored object is, before it has an id.
pub(super) struct NewObject<'a> {
    pub(super) bucket: &'a str,
    pub(super) key: &'a str,
    pub(super) len: u64,
    pub(super) md5: String,
    pub(super) sha1: String,
    pub(super) etag: String,
}

/// Moves the durable file at `path` into the object store and records it.
pub(super) async fn store_object(
    app: &Arc<App>,
    o: NewObject<'_>,
    path: &std::path::Path,
) -> Result<(), CosError> {
    let NewObject {
        bucket,
        key,
        len,
        md5,
        sha1,
        etag,
    } = o;
    let id = app.db(|s| s.reserve_object_id()).await?;
    let row = ObjectRow {
        id,
        bucket: bucket.to_string(),
        key: key.to_string(),
        size: len,
        md5,
        sha1,
        etag,
        created_at: unix_now(),
    };
    let src = path.to_path_buf();
    app.db(move |s| {
        store::persist(&src, &s.object_path(id))?;
        if let Some(old) = s.put_object(&row)? {
            s.remove_when_durable(s.object_path(old));
        }
        Ok(())
    })
    .await?;
    Ok(())
}

pub(super) async fn put_object(
    app: &Arc<App>,
    req: &Req,
    headers: &axum::http::HeaderMap,
    body: Body,
) -> Result<Response, CosError> {
    if req.key().is_empty() {
        body::discard(body).await;
        return Err(err(400, "InvalidURI", "object key is empty"));
    }
    let inc = body::receive(body, &app.store.tmp_dir(), app.cfg.max_object_body).await?;
    if let Some(want) = headers.get("content-md5").and_then(|v| v.to_str().ok()) {
        use base64::Engine as _;
        let got = hex::decode(&inc.md5).unwrap_or_default();
        if base64::engine::general_purpose::STANDARD.encode(got) != want.trim() {
            return Err(err(400, "BadDigest", "Content-MD5 does not match the body"));
        }
    }
    let etag = format!("\"{}\"", inc.md5);
    // store_object renames the file away; `inc` then only forgets it.
    store_object(
        app,
        NewObject {
            bucket: &req.bucket,
            key: req.key(),
            len: inc.len,
            md5: inc.md5.clone(),
            sha1: inc.sha1.clone(),
            etag: etag.clone(),
        },
        &inc.path,
    )
    .await?;
    Ok(etag_response(&etag))
}

pub(super) async fn initiate(app: &Arc<App>, req: &Req) -> Result<Response, CosError> {
    let id = format!("{:032x}", rand::random::<u128>());
    let (i, b, k) = (id.clone(), req.bucket.clone(), req.key().to_string());
    app.db(move |s| s.create_multipart(&i, &b, &k)).await?;
    let result = cos_xml::InitiateMultipartUploadResult {
        bucket: req.bucket.clone(),
        key: req.key().to_string(),
        upload_id: id,
    };
    Ok(xml(StatusCode::OK, result.to_xml()))
}

pub(super) async fn check_upload(app: &Arc<App>, req: &Req, id: &str) -> Result<u64, CosError> {
    let i = id.to_string();
    match app.db(move |s| s.multipart(&i)).await? {
        Some((b, k, created)) if b == req.bucket && k == req.key() => Ok(created),
        _ => Err(err(404, "NoSuchUpload", "the upload does not exist")),
    }
}

pub(super) async fn upload_part(
    app: &Arc<App>,
    req: &Req,
    id: &str,
    body: Body,
) -> Result<Response, CosError> {
    let n: u32 = match req.param("partNumber").and_then(|v| v.parse().ok()) {
        Some(n) if (1..=10_000).contains(&n) => n,
        _ => {
            body::discard(body).await;
            return Err(err(400, "InvalidArgument", "partNumber must be 1-10000"));
        }
    };
    if let Err(e) = check_upload(app, req, id).await {
        body::discard(body).await;
        return Err(e);
    }
    // The ETag is the part's MD5; nothing needs a per-part SHA-1.
    let inc =
        body::receive_hashed(body, &app.store.tmp_dir(), app.cfg.max_object_body, false).await?;
    let (len, md5) = (inc.len, inc.md5.clone());
    let i = id.to_string();
    let m = md5.clone();
    app.db(move |s| {
        inc.persist_to(&s.mp_part_path(&i, n))?;
        s.record_mp_part(&i, n, len, &m)
    })
    .await?;
    app.stats.part_received(len);
    Ok(etag_response(&format!("\"{md5}\"")))
}

pub(super) async fn get_object(
    app: &Arc<App>,
    req: &Req,
    headers: &axum::http::HeaderMap,
    head: bool,
) -> Result<Response, CosError> {
    let (b, k) = (req.bucket.clone(), req.key().to_string());
    let o = app
        .db(move |s| s.object(&b, &k))
        .await?
        .ok_or_else(|| err(404, "NoSuchKey", "the object does not exist"))?;
    // A single byte range, as COS serves it (206, Content-Range; 416
    // InvalidRange when unsatisfiable); a malformed one is ignored.
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, first, last) = match parse_range(range, o.size) {
        RangeOutcome::Full => (200, 0, o.size.saturating_sub(1)),
        RangeOutcome::Part(a, b) => (206, a, b),
        RangeOutcome::Unsatisfiable => {
            return Err(err(416, "InvalidRange", "the range is not satisfiable"));
        }
    };
    let len = if o.size == 0 { 0 } else { last - first + 1 };
    let mut builder = Response::builder()
        .status(status)
        .header(header::ETAG, &o.etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, len)
        .header("x-cos-request-id", request_id());
    if status == 206 {
        builder = builder.header(
            header::CONTENT_RANGE,
            format!("bytes {first}-{last}/{}", o.size),
        );
    }
    if head {
        return Ok(builder.body(Body::empty()).unwrap_or_default());
    }
    let body = crate::server::span::body(app.store.object_path(o.id), first, len)
        .await
        .map_err(ServerError::from)?;
    Ok(builder.body(body).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape() {
        assert_eq!(decode_key("/a/b.mp4").unwrap(), "/a/b.mp4");
        assert_eq!(
            decode_key("/exampleobject(%E8%85%BE%E8%AE%AF%E4%BA%91)").unwrap(),
            "/exampleobject(腾讯云)"
        );
        assert!(decode_key("/../etc/passwd").is_err());
        assert!(decode_key("/a/%2E%2E/%2E%2E/x").is_err());
        assert!(decode_key("/a%00b").is_err());
        assert!(decode_key("/%FF").is_err());
    }

    proptest::proptest! {
        #[test]
        fn key_and_auth_parsers_never_panic(x in "\\PC{0,120}") {
            if let Ok(k) = decode_key(&x) {
                proptest::prop_assert!(!k.split('/').any(|s| s == ".."));
            }
            let _ = crate::vod::sign::CosAuth::parse(&x);
            let _ = crate::vod::sign::CosAuth::parse(&format!("q-sign-algorithm=sha1&q-ak=a&q-key-time={x}&q-header-list={x}&q-url-param-list=&q-signature=00"));
        }
    }
}
