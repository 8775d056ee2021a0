//! Family C, server upload via object storage (protocol.md §5): ApplyUpload
//! → COS XML multipart upload → CommitUpload.
//!
//! Design decisions:
//! - ApplyUpload and CommitUpload are v2-signed GETs to the vod.api endpoint
//!   (`/v2/index.php` unless the URL names another path).
//! - The object goes up as a COS multipart upload with the account's own
//!   key (revision C2): initiate at start, one `PUT ?partNumber&uploadId`
//!   per pipeline part, and at finish the parts are *listed* from COS (so
//!   parts sent by an earlier run count too), checked, and completed. A
//!   file of one part is one PUT Object instead (no initiate, list or
//!   complete: three round trips fewer per small file), and an empty file
//!   one empty PUT Object at finish (COS has no empty multipart).
//! - COS refuses parts under 1 MiB but the last, so the part size is at
//!   least 1 MiB whatever the job asks.
//! - COS requests are addressed to `<bucket>-<appId>.cos.<region>.myqcloud.com`
//!   (virtual-hosted style, signed with the COS request signature over the
//!   Host header). With a `cos_endpoint`, the connection goes there instead
//!   while the Host header keeps the bucket's name (how the SDKs reach a
//!   local service); without one, an endpoint that is not the cloud's is
//!   where COS requests go too ([`super::cos::route`]). The request itself
//!   is [`super::cos`]'s, shared with the api3 flow.
//! - Resume: the session token carries the vodSessionKey, the object key and
//!   the uploadId; a start with a saved token lists the parts COS holds
//!   and continues, or applies afresh if the upload is gone.
//! - Open start ([`UploadFlow::parts_before_hash`]): a request with an
//!   empty SHA-1 (the file is still being written, `upload::early`) sends
//!   no videoSize and always initiates a multipart upload; the commit
//!   resumes it like any saved session.
//! - There is no instant upload in this flow.
//! - A cover ([`super::flow::UploadSettings::cover`]) goes with ApplyUpload
//!   (coverType/coverName/coverSize), is PUT to the cover storagePath right
//!   after it, and CommitUpload answers its `cover.url`. A cover PUT that
//!   fails is dropped (the video is applied for again without it). There is
//!   no call to add a cover to a committed video in this family.

use bytes::Bytes;
use futures::future::BoxFuture;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use url::Url;

use super::cos::{self, CosClient, CosKey, Object};
use super::credentials::Credentials;
use super::error::{VodError, VodErrorKind};
use super::flow::{
    AbortReason, HeldPart, Media, Part, Session, StartRequest, Started, Step, UploadFlow,
};
use super::http::{self, Endpoint, HttpConfig};
use super::reply::Reply;
use super::rules::cos_xml::{self, ListPartsResult};
pub use super::rules::parts::COS_MIN_PART;
use super::rules::parts::part_count;

const APPLY: &str = "ApplyUpload";
const COMMIT: &str = "CommitUpload";
const PART: &str = "CosUploadPart";
const INITIATE: &str = "CosInitiateMultipart";
const LIST: &str = "CosListParts";
const COMPLETE: &str = "CosCompleteMultipart";
const PUT: &str = "CosPutObject";
const ABORT: &str = "CosAbortMultipart";

/// Settings of the apply flow.
#[derive(Debug, Clone)]
pub struct ApplyConfig {
    /// The vod.api endpoint (`http://host:port` or a full URL).
    pub endpoint: String,
    /// Where COS requests connect (`http://host:port`), keeping the
    /// bucket's Host header; `None`: see [`cos::route`] (the bucket's host
    /// over https from the cloud, else the endpoint's own address).
    pub cos_endpoint: Option<String>,
    pub region: String,
    /// Stall and connect limits ([`super::stall`]).
    pub timeouts: super::stall::Timeouts,
}

impl ApplyConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        ApplyConfig {
            endpoint: endpoint.into(),
            cos_endpoint: None,
            region: "gz".into(),
            timeouts: super::stall::Timeouts::default(),
        }
    }
}

/// What the flow keeps between calls (the session token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Token {
    session_key: String,
    /// `<bucket>-<appId>.cos.<region>.myqcloud.com`
    cos_host: String,
    /// The object key path, with its leading `/`.
    key: String,
    /// `None` for an empty file (one PUT Object at finish).
    upload_id: Option<String>,
}

/// The family C client.
#[derive(Debug, Clone)]
pub struct ApplyClient {
    api: Endpoint,
    cos: CosClient,
    region: String,
    creds: Credentials,
}

impl ApplyClient {
    pub fn new(config: ApplyConfig, creds: Credentials) -> Result<Self, VodError> {
        let bad = |why: String| VodError::new(APPLY, VodErrorKind::Request(why));
        let mut api_cfg = HttpConfig::new(config.endpoint.clone());
        api_cfg.timeouts = config.timeouts;
        if let Ok(mut u) = Url::parse(&config.endpoint)
            && (u.path().is_empty() || u.path() == "/")
        {
            u.set_path("/v2/index.php");
            api_cfg.endpoint = u.to_string();
        }
        let api = Endpoint::new(&api_cfg).map_err(bad)?;
        let base = cos::route(&config.endpoint, config.cos_endpoint.as_deref()).map_err(bad)?;
        let cos = CosClient::new(base, config.timeouts).map_err(bad)?;
        Ok(ApplyClient {
            api,
            cos,
            region: config.region,
            creds,
        })
    }

    async fn api_call(
        &self,
        action: &'static str,
        params: Vec<(String, String)>,
    ) -> Result<Reply, VodError> {
        let q = http::v2_query(
            &self.creds,
            &self.region,
            "GET",
            self.api.host(),
            self.api.path(),
            action,
            params,
        );
        let reply = self.api.get(action, &q).await?;
        if reply.code != 0 {
            return Err(reply.unexpected_code());
        }
        Ok(reply)
    }

    /// One COS request signed with the account's key; returns the
    /// response's ETag and body.
    async fn cos(
        &self,
        action: &'static str,
        method: Method,
        tok: &Token,
        params: &[(String, String)],
        body: Bytes,
    ) -> Result<(Option<String>, String), VodError> {
        let key = CosKey {
            secret_id: &self.creds.secret_id,
            secret_key: self.creds.secret_key(),
            token: None,
        };
        let object = Object {
            host: &tok.cos_host,
            key: &tok.key,
        };
        let r = self
            .cos
            .request(action, method, object, params, body, &key)
            .await?;
        Ok((r.etag, r.body))
    }

    fn token(session: &Session, action: &'static str) -> Result<Token, VodError> {
        session
            .token
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| VodError::new(action, VodErrorKind::Request("no apply session".into())))
    }

    /// The parts COS holds for the session's multipart upload.
    async fn list(
        &self,
        tok: &Token,
        upload_id: &str,
    ) -> Result<Vec<cos_xml::ListedPart>, VodError> {
        let params = [("uploadId".to_string(), upload_id.to_string())];
        let (_, xml) = self
            .cos(LIST, Method::GET, tok, &params, Bytes::new())
            .await?;
        ListPartsResult::parse(&xml)
            .map(|l| l.parts)
            .ok_or_else(|| VodError::bad_response(LIST, "unreadable part list"))
    }

    async fn resume(&self, req: &StartRequest, saved: &Session) -> Option<Started> {
        let tok: Token = serde_json::from_str(saved.token.as_deref()?).ok()?;
        let Some(id) = tok.upload_id.clone() else {
            // One PUT Object: sent again (it replaces the object) and
            // committed under the same key, which answers the same media
            // if an earlier run's commit went through.
            return (saved.file_size > 0 && saved.file_size == req.file_size).then(|| {
                Started::Upload {
                    session: saved.clone(),
                    held: Vec::new(),
                    resumed: true,
                }
            });
        };
        let parts = self.list(&tok, &id).await.ok()?;
        let layout = saved.layout();
        let held = parts
            .into_iter()
            .filter(|p| p.number >= 1)
            .map(|p| HeldPart {
                offset: layout.part(u64::from(p.number - 1)).0,
                size: p.size,
                md5_hex: p.etag,
            })
            .filter(|h| h.offset < req.file_size)
            .collect();
        Some(Started::Upload {
            session: saved.clone(),
            held,
            resumed: true,
        })
    }

    async fn apply(&self, req: &StartRequest) -> Result<Started, VodError> {
        if let Some(saved) = req.resume.as_ref().filter(|s| s.flow == "apply")
            && let Some(started) = self.resume(req, saved).await
        {
            return Ok(started);
        }
        // An open start (the file is still being written) sends no
        // videoSize (optional, §5.1) and is always a multipart upload.
        let open = req.sha1_hex.is_empty();
        let mut params = vec![
            ("videoType".to_string(), req.file_type.clone()),
            ("videoName".to_string(), req.file_name.clone()),
        ];
        if !open {
            params.push(("videoSize".to_string(), req.file_size.to_string()));
        }
        let s = &req.settings;
        s.push_common_params(&mut params);
        if let Some(c) = &s.source_context {
            params.push(("sourceContext".into(), c.clone()));
        }
        if let Some(c) = &s.cover {
            params.push(("coverType".into(), c.file_type.clone()));
            params.push(("coverName".into(), c.file_name.clone()));
            params.push(("coverSize".into(), c.data.len().to_string()));
        }
        let reply = self.api_call(APPLY, params).await?;
        let bucket = reply.str_at(&["storageBucket"])?;
        let app_id = reply.u64_at(&["storageAppId"])?;
        let region = reply.str_at(&["storageRegionV5"])?;
        let path = reply.str_at(&["video", "storagePath"])?;
        let session_key = reply.str_at(&["vodSessionKey"])?;
        let ok_name =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok_name(&bucket) || !ok_name(&region) || path.is_empty() || path.contains("..") {
            return Err(VodError::bad_response(APPLY, "unusable storage location"));
        }
        let key = format!("/{}", path.trim_start_matches('/'));
        let mut tok = Token {
            session_key,
            cos_host: format!("{bucket}-{app_id}.cos.{region}.myqcloud.com"),
            key,
            upload_id: None,
        };
        if let Some(c) = &s.cover
            && let Err(e) = self.put_cover(&reply, &tok, c.data.clone()).await
        {
            // The cover never fails its video: apply again without it (the
            // commit job sees no cover URL and records the cover failure).
            tracing::warn!(file = %req.file_name, "cover not sent, uploading the video without it: {e}");
            let mut bare = req.clone();
            bare.settings.cover = None;
            return Box::pin(self.apply(&bare)).await;
        }
        let part_size = req.part_size.max(COS_MIN_PART);
        if open || part_count(req.file_size, part_size) > 1 {
            let params = [("uploads".to_string(), String::new())];
            let (_, xml) = self
                .cos(INITIATE, Method::POST, &tok, &params, Bytes::new())
                .await?;
            let init = cos_xml::InitiateMultipartUploadResult::parse(&xml)
                .ok_or_else(|| VodError::bad_response(INITIATE, "no UploadId"))?;
            tok.upload_id = Some(init.upload_id);
        }
        let token = serde_json::to_string(&tok)
            .map_err(|e| VodError::new(APPLY, VodErrorKind::Request(e.to_string())))?;
        Ok(Started::Upload {
            session: Session {
                flow: "apply".into(),
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

    /// PUTs the cover to the storagePath ApplyUpload gave it (same bucket,
    /// same COS signature as the video).
    async fn put_cover(&self, reply: &Reply, video: &Token, data: Bytes) -> Result<(), VodError> {
        let path = reply.str_at(&["cover", "storagePath"])?;
        if path.is_empty() || path.contains("..") {
            return Err(VodError::bad_response(APPLY, "unusable cover storagePath"));
        }
        let tok = Token {
            key: format!("/{}", path.trim_start_matches('/')),
            upload_id: None,
            ..video.clone()
        };
        self.cos(PUT, Method::PUT, &tok, &[], data).await?;
        Ok(())
    }

    async fn put_part(&self, session: &Session, part: Part) -> Result<(), VodError> {
        let tok = Self::token(session, PART)?;
        let (action, etag) = match tok.upload_id.clone() {
            Some(id) => {
                let params = [
                    ("partNumber".to_string(), (part.index + 1).to_string()),
                    ("uploadId".to_string(), id),
                ];
                let (etag, _) = self
                    .cos(PART, Method::PUT, &tok, &params, part.data)
                    .await?;
                (PART, etag)
            }
            None if part.index == 0 => {
                let (etag, _) = self.cos(PUT, Method::PUT, &tok, &[], part.data).await?;
                (PUT, etag)
            }
            None => {
                return Err(VodError::new(
                    PART,
                    VodErrorKind::Request(format!("part {} of a one-part session", part.index)),
                ));
            }
        };
        match etag {
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
                self.cos(PUT, Method::PUT, &tok, &[], Bytes::new()).await?;
            }
            // The one part was the PUT Object.
            None => {}
            Some(id) => {
                let params = [("uploadId".to_string(), id.clone())];
                cos::complete_multipart(
                    COMPLETE,
                    session,
                    || self.list(&tok, id),
                    |xml| self.cos(COMPLETE, Method::POST, &tok, &params, xml),
                )
                .await?;
            }
        }
        let reply = self
            .api_call(COMMIT, vec![("vodSessionKey".into(), tok.session_key)])
            .await?;
        let file_id = match reply.value_at(&["fileId"]) {
            Some(serde_json::Value::Number(n)) if n.is_u64() => n.to_string(),
            _ => reply.str_at(&["fileId"])?,
        };
        let url = reply.str_at(&["video", "url"])?;
        match Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(VodError::bad_response(
                    COMMIT,
                    format!("url {url:?} is not a URL"),
                ));
            }
        }
        if file_id.is_empty() || !file_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(VodError::bad_response(
                COMMIT,
                format!("fileId {file_id:?} is not an id"),
            ));
        }
        let cover_url = reply
            .value_at(&["cover", "url"])
            .and_then(|v| v.as_str())
            .map(str::to_string);
        Ok(Media {
            file_id,
            url: Some(url),
            cover_url,
        })
    }
}

impl UploadFlow for ApplyClient {
    /// A quality `Report` signed with the account's key on the API
    /// endpoint (the v2 family's harmless call): 4100 with refused
    /// credentials.
    fn check_account(&self) -> BoxFuture<'_, Result<(), VodError>> {
        Box::pin(async move {
            let params = vec![
                ("errCode".to_string(), "0".to_string()),
                ("platform".to_string(), "vodfs".to_string()),
                ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ];
            super::reply::account_check(self.api_call("Report", params).await)
        })
    }

    fn name(&self) -> &'static str {
        "apply"
    }

    fn cover_at_start(&self) -> bool {
        true
    }

    /// ApplyUpload needs no hash and videoSize is optional: parts may go
    /// up while the file is written.
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

    /// On cancel, aborts the multipart upload (`DELETE ?uploadId`; the
    /// unused vodSessionKey simply expires). A failure keeps it to resume.
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
            let params = [("uploadId".to_string(), id)];
            self.cos(ABORT, Method::DELETE, &tok, &params, Bytes::new())
                .await
                .map(|_| ())
        })
    }
}
