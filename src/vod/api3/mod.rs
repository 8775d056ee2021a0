//! The VOD upload of today, API 3.0 version 2018-07-17
//! (protocol-api3.md): ApplyUpload → COS with the session's temporary
//! credential → CommitUpload.
//!
//! Design decisions:
//! - ApplyUpload and CommitUpload are JSON POSTs to `/` signed with
//!   TC3-HMAC-SHA256 over `content-type;host`, with the X-TC-* headers
//!   tencentcloud-sdk-python sends (§1.1). Errors are `Response.Error`
//!   ([`VodErrorKind::Api`]): `AuthFailure.*` and `InvalidParameter*` fail at
//!   once, naming the parameter and the value sent; `RequestLimitExceeded*`,
//!   `InternalError` and 5xx are retried by the pipeline
//!   ([`VodError::is_retryable`]).
//! - COS ([`super::cos`]) with the temporary credential (`x-cos-security-token`),
//!   or the account's key when the service gave none, as the SDKs do. A file
//!   of one part (or none) is one PUT Object; a larger one a multipart upload
//!   whose parts the pipeline sends in parallel, the part size chosen so any
//!   file fits in 10,000 parts ([`api3::part_size_for`]). Each part's ETag
//!   must be its MD5.
//! - The credential's lifetime: the service has no refresh call. Before each
//!   part (and before completing) the flow checks that the credential lives
//!   at least a margin (a tenth of its lifetime, 1 s to 60 s) longer; if not,
//!   or when COS refuses a credential that has run out, the call fails with
//!   [`VodErrorKind::SessionExpired`] and the pipeline starts the file over
//!   with a new ApplyUpload (a new session and credential). A file is failed
//!   only when it cannot be sent within the lifetime of one credential.
//! - Resume: the session token holds the session key, the bucket host, the
//!   object key, the uploadId and the credential (so it lives in the cache,
//!   like the apply flow's); a start with a saved token whose credential
//!   still lives lists the parts COS holds (ListParts, paged) and only the
//!   missing ones are sent. An expired one is applied for afresh.
//! - Open start ([`UploadFlow::parts_before_hash`]): ApplyUpload needs no
//!   size or hash, so a request with an empty SHA-1 is answered with a
//!   multipart session of the preferred part size (at least COS's 1 MiB)
//!   while the file is still being written (`upload::early`); the commit
//!   resumes it like any saved session.
//! - CommitUpload is idempotent by session key: a retried commit whose
//!   first answer was lost gets the same FileId. A completion that already
//!   happened (NoSuchUpload on the retry) goes on to the commit.
//! - A cover goes with ApplyUpload (CoverType) and is PUT to
//!   CoverStoragePath; CommitUpload's CoverUrl is the cover's URL. A cover
//!   PUT that fails is dropped (the video is applied for again without it).
//!
//! Files: this one (the client and the flow), [`actions`] (the call names), [`session`]
//! (the session token and its credential), [`answer`] (parameters and
//! answers), tests.

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Map, Value, json};
use url::Url;

use super::cos::{self, CosClient, CosKey, Object};
use super::credentials::Credentials;
use super::error::{VodError, VodErrorKind};
use super::flow::{
    AbortReason, HeldPart, Media, Part, Session, StartRequest, Started, Step, UploadFlow,
};
use super::http;
use super::rules::api3::{self, VERSION};
use super::rules::cos_xml;
use super::rules::parts::part_count;
use super::sign::tc3;
use super::stall;
use actions::{ABORT, APPLY, COMMIT, COMPLETE, INITIATE, LIST, PART, PUT};
use answer::{apply_params, ok_name, ok_path, read_reply, temp_cred, text};
use session::{Token, now};

/// The flow's name in sessions and `--protocol`.
pub const NAME: &str = "api3";

/// Settings of the api3 flow.
#[derive(Debug, Clone)]
pub struct Api3Config {
    /// The API endpoint (`https://vod.tencentcloudapi.com`, or a local
    /// service's `http://host:port`).
    pub endpoint: String,
    /// Where COS requests connect; `None`: see [`cos::route`].
    pub cos_endpoint: Option<String>,
    pub region: String,
    pub sub_app_id: Option<u64>,
    /// Stall and connect limits ([`crate::vod::stall`]).
    pub timeouts: stall::Timeouts,
}

impl Api3Config {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Api3Config {
            endpoint: endpoint.into(),
            cos_endpoint: None,
            region: api3::DEFAULT_REGION.into(),
            sub_app_id: None,
            timeouts: stall::Timeouts::default(),
        }
    }
}

/// The API 3.0 client.
#[derive(Debug, Clone)]
pub struct Api3Client {
    http: reqwest::Client,
    stall: Duration,
    url: Url,
    /// `host[:port]` as sent in the Host header (and signed).
    host: String,
    region: String,
    sub_app_id: Option<u64>,
    creds: Credentials,
    cos: CosClient,
}

impl Api3Client {
    pub fn new(config: Api3Config, creds: Credentials) -> Result<Self, VodError> {
        let bad = |why: String| VodError::new(APPLY, VodErrorKind::Request(why));
        let ep = &config.endpoint;
        let mut url = Url::parse(ep).map_err(|e| bad(format!("endpoint {ep:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(format!(
                "endpoint {ep:?}: scheme must be http or https"
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| bad(format!("endpoint {ep:?} has no host")))?
            .to_string();
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        if url.path().is_empty() {
            url.set_path("/");
        }
        url.set_query(None);
        url.set_fragment(None);
        let base = cos::route(ep, config.cos_endpoint.as_deref()).map_err(bad)?;
        Ok(Api3Client {
            http: http::client(config.timeouts.connect).map_err(bad)?,
            stall: config.timeouts.stall,
            url,
            host,
            region: config.region,
            sub_app_id: config.sub_app_id,
            creds,
            cos: CosClient::new(base, config.timeouts).map_err(bad)?,
        })
    }

    /// One TC3-signed JSON POST; the `Response` object of the answer.
    async fn call(
        &self,
        action: &'static str,
        params: Map<String, Value>,
    ) -> Result<Map<String, Value>, VodError> {
        let body = serde_json::to_vec(&params)
            .map_err(|e| VodError::new(action, VodErrorKind::Request(e.to_string())))?;
        let timestamp = now();
        let content_type = "application/json";
        let signed = [("content-type", content_type), ("host", self.host.as_str())];
        let req = tc3::Tc3Request {
            method: "POST",
            path: self.url.path(),
            query: "",
            headers: &signed,
            payload: &body,
            unsigned_payload: false,
            timestamp,
            service: api3::SERVICE,
        };
        let auth = tc3::authorization(&self.creds.secret_id, self.creds.secret_key(), &req);
        let mut request = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::HOST, &self.host)
            .header("X-TC-Action", action)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header(
                "X-TC-RequestClient",
                concat!("vodfs/", env!("CARGO_PKG_VERSION")),
            )
            .header(reqwest::header::AUTHORIZATION, auth);
        if !self.region.is_empty() {
            request = request.header("X-TC-Region", &self.region);
        }
        let progress = stall::Progress::default();
        let request = request
            .header(reqwest::header::CONTENT_LENGTH, body.len())
            .body(progress.body(body.into()));
        let (status, buf) = http::exchange(action, request, &progress, self.stall).await?;
        read_reply(action, status, &buf, &params)
    }

    fn token(session: &Session, action: &'static str) -> Result<Token, VodError> {
        session
            .token
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| VodError::new(action, VodErrorKind::Request("no api3 session".into())))
    }

    /// The key COS requests of `tok` are signed with, once the credential
    /// is checked to live long enough.
    fn key<'t>(&'t self, tok: &'t Token, action: &'static str) -> Result<CosKey<'t>, VodError> {
        match &tok.cred {
            Some(c) => {
                let now = now();
                if !c.usable(now) {
                    return Err(VodError::new(
                        action,
                        VodErrorKind::SessionExpired(format!(
                            "the session's temporary credential expires in {} s (at {}); a new session is needed",
                            c.expired_time.saturating_sub(now),
                            c.expired_time
                        )),
                    ));
                }
                Ok(CosKey {
                    secret_id: &c.secret_id,
                    secret_key: &c.secret_key,
                    token: Some(&c.token),
                })
            }
            None => Ok(CosKey {
                secret_id: &self.creds.secret_id,
                secret_key: self.creds.secret_key(),
                token: None,
            }),
        }
    }

    /// One COS request of the session: checks the credential first, and
    /// turns a 403 once it has run out into [`VodErrorKind::SessionExpired`].
    async fn cos(
        &self,
        action: &'static str,
        method: Method,
        tok: &Token,
        key_path: &str,
        params: &[(String, String)],
        body: Bytes,
    ) -> Result<cos::CosReply, VodError> {
        let key = self.key(tok, action)?;
        let object = Object {
            host: &tok.cos_host,
            key: key_path,
        };
        let r = self
            .cos
            .request(action, method, object, params, body, &key)
            .await;
        match &tok.cred {
            Some(c) => cos::expired_as_session(r, action, c),
            None => r,
        }
    }

    /// Every part COS holds for the session's multipart upload (paged).
    async fn list(
        &self,
        tok: &Token,
        upload_id: &str,
    ) -> Result<Vec<cos_xml::ListedPart>, VodError> {
        cos::list_all_parts(LIST, upload_id, api3::MAX_PARTS, |params| async move {
            self.cos(LIST, Method::GET, tok, &tok.key, &params, Bytes::new())
                .await
        })
        .await
    }

    /// Continues a saved session whose credential still lives: the parts
    /// COS holds. `None` when it cannot be continued.
    async fn resume(&self, req: &StartRequest, saved: &Session) -> Option<Started> {
        let tok: Token = serde_json::from_str(saved.token.as_deref()?).ok()?;
        if tok.cred.as_ref().is_some_and(|c| !c.usable(now())) {
            return self
                .committed_before(req, saved, &tok, "its credential has expired")
                .await;
        }
        let held = match &tok.upload_id {
            Some(id) => {
                let parts = match self.list(&tok, id).await {
                    Ok(p) => p,
                    Err(e) => {
                        let why = format!("its parts cannot be listed ({e})");
                        return self.committed_before(req, saved, &tok, &why).await;
                    }
                };
                let layout = saved.layout();
                parts
                    .into_iter()
                    .filter(|p| p.number >= 1)
                    .map(|p| HeldPart {
                        offset: layout.part(u64::from(p.number - 1)).0,
                        size: p.size,
                        md5_hex: p.etag,
                    })
                    .filter(|h| h.offset < req.file_size)
                    .collect()
            }
            // One PUT: the object may be there, and even committed (the
            // commit revokes the credential), so ask the commit first.
            None if saved.file_size > 0 => {
                if let Some(done) = self.committed_before(req, saved, &tok, "").await {
                    return Some(done);
                }
                Vec::new()
            }
            None => Vec::new(),
        };
        Some(Started::Upload {
            session: saved.clone(),
            held,
            resumed: true,
        })
    }

    /// A saved session that cannot be continued may have been committed
    /// already (the mount was killed before it recorded the answer):
    /// CommitUpload with its key, idempotent, answers that media, so the file
    /// never becomes a second media. `None` (with a log line naming `why`,
    /// when given) when it was not.
    async fn committed_before(
        &self,
        req: &StartRequest,
        saved: &Session,
        tok: &Token,
        why: &str,
    ) -> Option<Started> {
        match self.commit(tok).await {
            Ok(media) => {
                tracing::info!(file = %req.file_name, file_id = %media.file_id, "the saved session was already committed");
                Some(Started::Complete {
                    session: saved.clone(),
                    media,
                })
            }
            Err(e) => {
                if !why.is_empty() {
                    tracing::info!(file = %req.file_name, "saved session not resumable ({why}; commit: {e}): applying afresh");
                }
                None
            }
        }
    }

    async fn apply(&self, req: &StartRequest) -> Result<Started, VodError> {
        if let Some(saved) = req.resume.as_ref().filter(|s| s.flow == NAME)
            && let Some(started) = self.resume(req, saved).await
        {
            return Ok(started);
        }
        let r = self.call(APPLY, apply_params(req, self.sub_app_id)).await?;
        let bucket = text(APPLY, &r, "StorageBucket")?;
        let region = text(APPLY, &r, "StorageRegion")?;
        let path = text(APPLY, &r, "MediaStoragePath")?;
        let session_key = text(APPLY, &r, "VodSessionKey")?;
        if !ok_name(&bucket) || !ok_name(&region) || !ok_path(&path) {
            return Err(VodError::bad_response(APPLY, "unusable storage location"));
        }
        // An open start (the file is still being written): a multipart
        // upload of the preferred part size, whatever the final size.
        let open = req.sha1_hex.is_empty();
        let part_size = match open {
            true => req.part_size.max(super::rules::parts::COS_MIN_PART),
            false => api3::part_size_for(req.file_size, req.part_size),
        };
        let mut tok = Token {
            session_key,
            cos_host: format!("{bucket}.cos.{region}.myqcloud.com"),
            key: path,
            upload_id: None,
            cred: temp_cred(&r)?,
        };
        if let Some(c) = &req.settings.cover
            && let Err(e) = self.put_cover(&r, &tok, c.data.clone()).await
        {
            // The cover never fails its video: apply again without it (the
            // commit job sees no cover URL and records the cover failure).
            tracing::warn!(file = %req.file_name, "cover not sent, uploading the video without it: {e}");
            let mut bare = req.clone();
            bare.settings.cover = None;
            bare.resume = None;
            return Box::pin(self.apply(&bare)).await;
        }
        if open || part_count(req.file_size, part_size) > 1 {
            let params = [("uploads".to_string(), String::new())];
            let reply = self
                .cos(
                    INITIATE,
                    Method::POST,
                    &tok,
                    &tok.key,
                    &params,
                    Bytes::new(),
                )
                .await?;
            let init = cos_xml::InitiateMultipartUploadResult::parse(&reply.body)
                .ok_or_else(|| VodError::bad_response(INITIATE, "no UploadId"))?;
            tok.upload_id = Some(init.upload_id);
        }
        let token = serde_json::to_string(&tok)
            .map_err(|e| VodError::new(APPLY, VodErrorKind::Request(e.to_string())))?;
        Ok(Started::Upload {
            session: Session {
                flow: NAME.into(),
                sha1_hex: req.sha1_hex.clone(),
                file_size: req.file_size,
                part_size,
                token: Some(token),
                growth: None,
            },
            held: Vec::new(),
            resumed: false,
        })
    }

    /// PUTs the cover to CoverStoragePath (same bucket and credential).
    async fn put_cover(
        &self,
        r: &Map<String, Value>,
        tok: &Token,
        data: Bytes,
    ) -> Result<(), VodError> {
        let path = text(APPLY, r, "CoverStoragePath")?;
        if !ok_path(&path) {
            return Err(VodError::bad_response(APPLY, "unusable CoverStoragePath"));
        }
        self.cos(PUT, Method::PUT, tok, &path, &[], data).await?;
        Ok(())
    }

    async fn put_part(&self, session: &Session, part: Part) -> Result<(), VodError> {
        let tok = Self::token(session, PART)?;
        let reply = match &tok.upload_id {
            Some(id) => {
                let params = [
                    ("partNumber".to_string(), (part.index + 1).to_string()),
                    ("uploadId".to_string(), id.clone()),
                ];
                self.cos(PART, Method::PUT, &tok, &tok.key, &params, part.data)
                    .await?
            }
            None if part.index == 0 => {
                self.cos(PUT, Method::PUT, &tok, &tok.key, &[], part.data)
                    .await?
            }
            None => {
                return Err(VodError::new(
                    PART,
                    VodErrorKind::Request(format!("part {} of a one-part session", part.index)),
                ));
            }
        };
        let action = if tok.upload_id.is_some() { PART } else { PUT };
        match reply.etag {
            Some(e) if e == part.md5_hex => Ok(()),
            Some(e) => Err(VodError::bad_response(
                action,
                format!("ETag {e} is not the part's md5 {}", part.md5_hex),
            )),
            None => Err(VodError::bad_response(action, "no ETag")),
        }
    }

    async fn complete(&self, session: &Session) -> Result<Media, VodError> {
        let tok = Self::token(session, COMPLETE)?;
        match &tok.upload_id {
            None if session.file_size == 0 => {
                self.cos(PUT, Method::PUT, &tok, &tok.key, &[], Bytes::new())
                    .await?;
            }
            None => {}
            Some(id) => self.complete_multipart(&tok, id, session).await?,
        }
        self.commit(&tok).await
    }

    /// CommitUpload of the session (idempotent: the same key answers the
    /// same media).
    async fn commit(&self, tok: &Token) -> Result<Media, VodError> {
        let mut params = Map::new();
        params.insert("VodSessionKey".into(), json!(tok.session_key));
        if let Some(id) = self.sub_app_id {
            params.insert("SubAppId".into(), json!(id));
        }
        let r = self.call(COMMIT, params).await?;
        let file_id = match r.get("FileId") {
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            _ => text(COMMIT, &r, "FileId")?,
        };
        if !file_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(VodError::bad_response(
                COMMIT,
                format!("FileId {file_id:?} is not an id"),
            ));
        }
        let url = match r.get("MediaUrl") {
            Some(Value::String(u)) if !u.is_empty() => match Url::parse(u) {
                Ok(p) if matches!(p.scheme(), "http" | "https") => Some(u.clone()),
                _ => {
                    return Err(VodError::bad_response(
                        COMMIT,
                        format!("MediaUrl {u:?} is not a URL"),
                    ));
                }
            },
            _ => None,
        };
        let cover_url = r
            .get("CoverUrl")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .map(str::to_string);
        Ok(Media {
            file_id,
            url,
            cover_url,
        })
    }

    /// Lists, checks and completes the multipart upload
    /// ([`cos::complete_multipart`]).
    async fn complete_multipart(
        &self,
        tok: &Token,
        id: &str,
        session: &Session,
    ) -> Result<(), VodError> {
        let params = [("uploadId".to_string(), id.to_string())];
        cos::complete_multipart(
            COMPLETE,
            session,
            || self.list(tok, id),
            |xml| self.cos(COMPLETE, Method::POST, tok, &tok.key, &params, xml),
        )
        .await
    }
}

impl UploadFlow for Api3Client {
    fn name(&self) -> &'static str {
        NAME
    }

    /// DescribeMediaInfos of a fileId no media has: signed like every call,
    /// it stores nothing and answers `NotExistFileIdSet` when the
    /// credentials hold.
    fn check_account(&self) -> BoxFuture<'_, Result<(), VodError>> {
        Box::pin(async move {
            let mut params = Map::new();
            params.insert("FileIds".into(), serde_json::json!(["0"]));
            match self.call("DescribeMediaInfos", params).await {
                Err(e) if e.is_credential_refusal() || e.is_transport() => Err(e),
                _ => Ok(()),
            }
            // (API 3.0 answers are maps, not a `Reply`: judged here.)
        })
    }

    fn cover_at_start(&self) -> bool {
        true
    }

    /// ApplyUpload takes neither size nor hash: parts may go up while the
    /// file is written (an open start is always a multipart upload).
    fn parts_before_hash(&self) -> bool {
        true
    }

    fn action(&self, step: Step) -> &'static str {
        match step {
            Step::Start => APPLY,
            Step::Part => PART,
            Step::Finish => COMMIT,
        }
    }

    fn start<'a>(&'a self, req: &'a StartRequest) -> BoxFuture<'a, Result<Started, VodError>> {
        Box::pin(self.apply(req))
    }

    fn send_part<'a>(
        &'a self,
        session: &'a Session,
        part: Part,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        Box::pin(self.put_part(session, part))
    }

    fn finish<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<Media, VodError>> {
        Box::pin(self.complete(session))
    }

    /// On cancel (and when a session is given up for a new one), aborts the
    /// multipart upload while the credential allows; a failure keeps it.
    fn abort<'a>(
        &'a self,
        session: &'a Session,
        reason: AbortReason,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        Box::pin(async move {
            if reason == AbortReason::Failed {
                return Ok(());
            }
            let tok = Self::token(session, ABORT)?;
            let Some(id) = tok.upload_id.clone() else {
                return Ok(());
            };
            if tok.cred.as_ref().is_some_and(|c| now() >= c.expired_time) {
                return Ok(());
            }
            let params = [("uploadId".to_string(), id)];
            let key = match &tok.cred {
                Some(c) => CosKey {
                    secret_id: &c.secret_id,
                    secret_key: &c.secret_key,
                    token: Some(&c.token),
                },
                None => CosKey {
                    secret_id: &self.creds.secret_id,
                    secret_key: self.creds.secret_key(),
                    token: None,
                },
            };
            let object = Object {
                host: &tok.cos_host,
                key: &tok.key,
            };
            self.cos
                .request(ABORT, Method::DELETE, object, &params, Bytes::new(), &key)
                .await
                .map(|_| ())
        })
    }
}

mod actions;
mod answer;
mod session;

#[cfg(test)]
mod tests;
