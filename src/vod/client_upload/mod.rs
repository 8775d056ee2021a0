//! Family D, the client upload of today (`--protocol ugc`; protocol.md §4,
//! §5.4, protocol-api3.md §2.5): ApplyUploadUGC → COS with the session's
//! temporary credential → CommitUploadUGC, for a machine that holds no
//! SecretKey (nor SecretId): every call carries a client-upload ("v5")
//! signature from the app's signer.
//!
//! Design decisions:
//! - Calls are JSON POSTs to `<endpoint>/v3/index.php?Action=…`; answers
//!   are `{code, message, data}` ([`answer`]); a code other than 0 is the
//!   service's error (code and message, `canRetry` honoured by the
//!   pipeline's retry rule).
//! - Signatures ([`SignatureProvider`], [`SignatureFormat::V5`]): a fresh
//!   one for every ApplyUploadUGC (so a retry after a refused or expired
//!   signature always asks the signer again). One that is not one-time
//!   (`oneTimeValid=0`) and lives another minute is kept in the session and
//!   reused by CommitUploadUGC; a one-time one never is, so each call, each
//!   retry included, asks again.
//! - COS ([`super::cos`]) with the temporary credential; bucket
//!   `storageBucket-storageAppId`, region `storageRegionV5`, key the
//!   storagePath. One PUT for a file of one part (or none), else multipart
//!   within 10,000 parts; every ETag must be the part's MD5. A credential
//!   that runs out mid-file fails the part with
//!   [`VodErrorKind::SessionExpired`] and the pipeline starts over.
//! - Resume ([`resume`]): the token (in the cache) holds the vodSessionKey,
//!   the key, the uploadId and when the session was made. While the
//!   session lives (a day), ApplyUploadUGC with the vodSessionKey gives a
//!   fresh credential for the same storagePath, ListParts says what COS
//!   holds, and only the rest is sent. Past the day, or when the service
//!   refuses the key, a saved session is first asked CommitUploadUGC
//!   (idempotent: a commit whose answer was lost answers its media), then
//!   the file starts afresh with a new session.
//! - Covers go with their video (coverName/Type/Size in ApplyUploadUGC, a
//!   PUT to cover.storagePath); a cover for a committed video is
//!   ApplyUploadUGC with its fileId, the PUT, then CommitUploadUGC, which
//!   replaces the video's cover.
//!
//! Files: this one (the client, the calls, the flow), [`resume`],
//! [`token`] (the session token), [`answer`] (reading answers).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Map, Value, json};
use url::Url;

use super::cos::{self, CosClient, CosKey, Object};
use super::error::{VodError, VodErrorKind};
use super::flow::{
    AbortReason, CoverRequest, Media, Part, Session, StartRequest, Started, Step, UploadFlow,
    UploadSettings,
};
use super::http;
use super::reply::Reply;
use super::rules::api3::{MAX_PARTS, part_size_for};
use super::rules::cos_xml;
use super::rules::parts::part_count;
use super::ugc::{SignRequest, SignatureFormat, SignatureProvider, V5Terms};
use crate::report::chain as error_chain;
use answer::{Applied, envelope};
use token::{FileFacts, Token, credential_ran_out, no_such_upload, now};

/// The flow's name in sessions and `--protocol`.
pub const NAME: &str = "ugc";

pub(crate) const APPLY: &str = "ApplyUploadUGC";
pub(crate) const COMMIT: &str = "CommitUploadUGC";
const PART: &str = "CosUploadPart";
const INITIATE: &str = "CosInitiateMultipart";
const LIST: &str = "CosListParts";
const COMPLETE: &str = "CosCompleteMultipart";
const PUT: &str = "CosPutObject";
const ABORT: &str = "CosAbortMultipart";

/// The largest answer read.
const MAX_RESPONSE: usize = 1 << 20;

/// Settings of the `ugc` flow.
#[derive(Debug, Clone)]
pub struct UgcConfig {
    /// `http(s)://host[:port]` (the path `/v3/index.php` is added) or a
    /// full URL naming the path (`https://vod2.qcloud.com/v3/index.php`).
    pub endpoint: String,
    /// Where COS requests connect; `None`: see [`cos::route`].
    pub cos_endpoint: Option<String>,
    pub timeout: Duration,
}

impl UgcConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        UgcConfig {
            endpoint: endpoint.into(),
            cos_endpoint: None,
            timeout: Duration::from_secs(120),
        }
    }
}

/// The family D client.
#[derive(Clone)]
pub struct UgcClient {
    http: reqwest::Client,
    url: Url,
    signer: Arc<dyn SignatureProvider>,
    cos: CosClient,
}

impl std::fmt::Debug for UgcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UgcClient")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl UgcClient {
    pub fn new(config: UgcConfig, signer: Arc<dyn SignatureProvider>) -> Result<Self, VodError> {
        let bad = |why: String| VodError::new(APPLY, VodErrorKind::Request(why));
        let ep = &config.endpoint;
        let mut url = Url::parse(ep).map_err(|e| bad(format!("endpoint {ep:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad(format!(
                "endpoint {ep:?}: not an http(s) URL with a host"
            )));
        }
        if url.path().is_empty() || url.path() == "/" {
            url.set_path("/v3/index.php");
        }
        url.set_query(None);
        url.set_fragment(None);
        let base = cos::route(ep, config.cos_endpoint.as_deref()).map_err(bad)?;
        Ok(UgcClient {
            http: http::client(config.timeout).map_err(bad)?,
            url,
            signer,
            cos: CosClient::new(base, config.timeout).map_err(bad)?,
        })
    }

    /// A signature for `action` of the file: `reuse` when it may be, else
    /// the signer's; with whether it may be kept for the next call.
    async fn signature(
        &self,
        facts: &FileFacts,
        action: &'static str,
        reuse: Option<&str>,
    ) -> Result<(String, bool), VodError> {
        if let Some(s) = reuse
            && V5Terms::read(s).is_ok_and(|t| t.reusable())
        {
            return Ok((s.to_string(), true));
        }
        let sig = self
            .signer
            .signature(&SignRequest {
                file_sha: facts.file_sha.clone(),
                file_name: facts.file_name.clone(),
                file_type: facts.file_type.clone(),
                file_size: facts.file_size,
                settings: facts.settings.clone(),
                format: SignatureFormat::V5,
                action,
            })
            .await?;
        let terms = V5Terms::read(&sig).map_err(|why| {
            VodError::new(
                "UGC signer",
                VodErrorKind::Request(format!(
                    "the signer's answer is not usable for {action}: {why}"
                )),
            )
        })?;
        Ok((sig, terms.reusable()))
    }

    /// One signed call: `body` gets the signature; the checked answer.
    async fn call(
        &self,
        action: &'static str,
        signature: &str,
        mut body: Map<String, Value>,
    ) -> Result<Reply, VodError> {
        body.insert("signature".into(), json!(signature));
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| VodError::new(action, VodErrorKind::Request(e.to_string())))?;
        let mut url = self.url.clone();
        url.query_pairs_mut().append_pair("Action", action);
        let transport = |e: reqwest::Error| {
            VodError::new(
                action,
                VodErrorKind::Transport {
                    timeout: e.is_timeout(),
                    message: error_chain(&e.without_url()),
                },
            )
        };
        let mut resp = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let mut buf = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if buf.len() + chunk.len() > MAX_RESPONSE {
                return Err(VodError::bad_response(action, "response body over 1 MiB"));
            }
            buf.extend_from_slice(&chunk);
        }
        envelope(action, status, &buf)
    }

    /// One COS request with the session's credential, checked first; a 403
    /// once it has run out is [`VodErrorKind::SessionExpired`].
    async fn cos(
        &self,
        action: &'static str,
        method: Method,
        tok: &Token,
        key_path: &str,
        params: &[(String, String)],
        body: Bytes,
    ) -> Result<cos::CosReply, VodError> {
        let c = &tok.cred;
        let t = now();
        if !c.usable(t) {
            return Err(VodError::new(
                action,
                VodErrorKind::SessionExpired(format!(
                    "the session's temporary credential expires in {} s (at {}); a new session is needed",
                    c.expired_time.saturating_sub(t),
                    c.expired_time
                )),
            ));
        }
        let key = CosKey {
            secret_id: &c.secret_id,
            secret_key: &c.secret_key,
            token: Some(&c.token),
        };
        let object = Object {
            host: &tok.cos_host,
            key: key_path,
        };
        match self
            .cos
            .request(action, method, object, params, body, &key)
            .await
        {
            Err(e) if credential_ran_out(&e, c) => Err(VodError::new(
                action,
                VodErrorKind::SessionExpired(format!(
                    "object storage refused the session's credential, which expires at {}: {}",
                    c.expired_time, e.kind
                )),
            )),
            r => r,
        }
    }

    /// Every part COS holds for the session's multipart upload.
    async fn list(&self, tok: &Token, id: &str) -> Result<Vec<cos_xml::ListedPart>, VodError> {
        cos::list_all_parts(LIST, id, MAX_PARTS, |params| async move {
            self.cos(LIST, Method::GET, tok, &tok.key, &params, Bytes::new())
                .await
        })
        .await
    }

    /// A new session for `req`: ApplyUploadUGC, the cover's PUT, and the
    /// multipart initiation of a file of more than one part.
    async fn apply_new(&self, req: &StartRequest) -> Result<Started, VodError> {
        let facts = FileFacts {
            file_name: req.file_name.clone(),
            file_type: req.file_type.clone(),
            file_sha: req.sha1_hex.clone(),
            file_size: req.file_size,
            settings: UploadSettings {
                cover: None,
                ..req.settings.clone()
            },
        };
        let (sig, keep) = self.signature(&facts, APPLY, None).await?;
        let mut body = Map::new();
        body.insert("videoName".into(), json!(req.file_name));
        body.insert("videoType".into(), json!(req.file_type));
        body.insert("videoSize".into(), json!(req.file_size));
        if let Some(c) = &req.settings.cover {
            body.insert("coverName".into(), json!(c.file_name));
            body.insert("coverType".into(), json!(c.file_type));
            body.insert("coverSize".into(), json!(c.data.len()));
        }
        if let Some(r) = &req.settings.storage_region {
            body.insert("storageRegion".into(), json!(r));
        }
        let r = self.call(APPLY, &sig, body).await?;
        let a = Applied::read(&r, APPLY)?;
        let key = a
            .key
            .clone()
            .ok_or_else(|| VodError::bad_response(APPLY, "no video.storagePath"))?;
        let mut tok = Token {
            session_key: a.session_key,
            cos_host: a.cos_host,
            key,
            upload_id: None,
            cred: a.cred,
            applied: now(),
            signature: keep.then_some(sig),
            facts,
        };
        if let Some(c) = &req.settings.cover {
            let sent = match &a.cover_key {
                Some(k) => self
                    .cos(PUT, Method::PUT, &tok, k, &[], c.data.clone())
                    .await
                    .map(|_| ()),
                None => Err(VodError::bad_response(APPLY, "no cover.storagePath")),
            };
            if let Err(e) = sent {
                // The cover never fails its video: apply again without it
                // (the commit job sees no cover URL and records why).
                tracing::warn!(file = %req.file_name, "cover not sent, uploading the video without it: {e}");
                let mut bare = req.clone();
                bare.settings.cover = None;
                return Box::pin(self.apply_new(&bare)).await;
            }
        }
        let part_size = part_size_for(req.file_size, req.part_size);
        if part_count(req.file_size, part_size) > 1 {
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
        Ok(Started::Upload {
            session: Session {
                flow: NAME.into(),
                sha1_hex: req.sha1_hex.clone(),
                file_size: req.file_size,
                part_size,
                token: Some(tok.write(APPLY)?),
            },
            held: Vec::new(),
            resumed: false,
        })
    }

    async fn start(&self, req: &StartRequest) -> Result<Started, VodError> {
        if let Some(saved) = req.resume.as_ref().filter(|s| s.flow == NAME)
            && let Some(started) = self.resume(req, saved).await?
        {
            return Ok(started);
        }
        self.apply_new(req).await
    }

    async fn put_part(&self, session: &Session, part: Part) -> Result<(), VodError> {
        let tok = Token::read(session.token.as_deref(), PART)?;
        let (action, reply) = match &tok.upload_id {
            Some(id) => {
                let params = [
                    ("partNumber".to_string(), (part.index + 1).to_string()),
                    ("uploadId".to_string(), id.clone()),
                ];
                let r = self
                    .cos(PART, Method::PUT, &tok, &tok.key, &params, part.data)
                    .await?;
                (PART, r)
            }
            None if part.index == 0 => {
                let r = self
                    .cos(PUT, Method::PUT, &tok, &tok.key, &[], part.data)
                    .await?;
                (PUT, r)
            }
            None => {
                return Err(VodError::new(
                    PART,
                    VodErrorKind::Request(format!("part {} of a one-part session", part.index)),
                ));
            }
        };
        match reply.etag {
            Some(e) if e == part.md5_hex => Ok(()),
            Some(e) => Err(VodError::bad_response(
                action,
                format!("ETag {e} is not the part's md5 {}", part.md5_hex),
            )),
            None => Err(VodError::bad_response(action, "no ETag")),
        }
    }

    /// Completes the object (multipart, or the empty PUT of an empty file)
    /// and commits the session.
    async fn finish(&self, session: &Session) -> Result<Media, VodError> {
        let tok = Token::read(session.token.as_deref(), COMPLETE)?;
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

    /// CommitUploadUGC of the session (idempotent: the same key answers the
    /// same media).
    async fn commit(&self, tok: &Token) -> Result<Media, VodError> {
        let (sig, _) = self
            .signature(&tok.facts, COMMIT, tok.signature.as_deref())
            .await?;
        let mut body = Map::new();
        body.insert("vodSessionKey".into(), json!(tok.session_key));
        let r = self.call(COMMIT, &sig, body).await?;
        answer::media(&r, COMMIT)
    }

    /// Lists, checks and completes the multipart upload; one already
    /// complete (a retry after a lost answer) is left as it is.
    async fn complete_multipart(
        &self,
        tok: &Token,
        id: &str,
        session: &Session,
    ) -> Result<(), VodError> {
        let parts = match self.list(tok, id).await {
            Ok(p) => p,
            Err(e) if no_such_upload(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        let xml = cos::completion(&parts, session, COMPLETE)?.to_xml();
        let params = [("uploadId".to_string(), id.to_string())];
        match self
            .cos(
                COMPLETE,
                Method::POST,
                tok,
                &tok.key,
                &params,
                Bytes::from(xml),
            )
            .await
        {
            Err(e) if no_such_upload(&e) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    /// A cover for the committed `video`: ApplyUploadUGC with its fileId,
    /// the PUT to cover.storagePath, CommitUploadUGC; the cover's URL.
    async fn replace_cover(&self, video: &Media, cover: &CoverRequest) -> Result<String, VodError> {
        let facts = FileFacts {
            file_name: cover.file_name.clone(),
            file_type: cover.file_type.clone(),
            file_sha: cover.sha1_hex.clone(),
            file_size: cover.data.len() as u64,
            settings: UploadSettings::default(),
        };
        let (sig, keep) = self.signature(&facts, APPLY, None).await?;
        let mut body = Map::new();
        body.insert("fileId".into(), json!(video.file_id));
        body.insert("coverName".into(), json!(cover.file_name));
        body.insert("coverType".into(), json!(cover.file_type));
        body.insert("coverSize".into(), json!(cover.data.len()));
        let r = self.call(APPLY, &sig, body).await?;
        let a = Applied::read(&r, APPLY)?;
        let cover_key = a
            .cover_key
            .clone()
            .ok_or_else(|| VodError::bad_response(APPLY, "no cover.storagePath"))?;
        let tok = Token {
            session_key: a.session_key,
            cos_host: a.cos_host,
            key: cover_key.clone(),
            upload_id: None,
            cred: a.cred,
            applied: now(),
            signature: keep.then_some(sig),
            facts,
        };
        self.cos(PUT, Method::PUT, &tok, &cover_key, &[], cover.data.clone())
            .await?;
        let media = self.commit(&tok).await?;
        media
            .cover_url
            .ok_or_else(|| VodError::bad_response(COMMIT, "no cover.url for the new cover"))
    }
}

impl UploadFlow for UgcClient {
    fn name(&self) -> &'static str {
        NAME
    }

    fn action(&self, step: Step) -> &'static str {
        match step {
            Step::Start => APPLY,
            Step::Part => PART,
            Step::Finish => COMMIT,
        }
    }

    fn cover_at_start(&self) -> bool {
        true
    }

    fn start<'a>(&'a self, req: &'a StartRequest) -> BoxFuture<'a, Result<Started, VodError>> {
        Box::pin(UgcClient::start(self, req))
    }

    fn send_part<'a>(
        &'a self,
        session: &'a Session,
        part: Part,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        Box::pin(self.put_part(session, part))
    }

    fn finish<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<Media, VodError>> {
        Box::pin(UgcClient::finish(self, session))
    }

    fn upload_cover<'a>(
        &'a self,
        video: &'a Media,
        cover: &'a CoverRequest,
    ) -> BoxFuture<'a, Result<String, VodError>> {
        Box::pin(self.replace_cover(video, cover))
    }

    /// On cancel (and when a session is given up for a new one), aborts the
    /// multipart upload while the credential allows; a failure keeps it for
    /// a retry to resume.
    fn abort<'a>(
        &'a self,
        session: &'a Session,
        reason: AbortReason,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        Box::pin(async move {
            if reason == AbortReason::Failed {
                return Ok(());
            }
            let tok = Token::read(session.token.as_deref(), ABORT)?;
            let Some(id) = tok.upload_id.clone() else {
                return Ok(());
            };
            if now() >= tok.cred.expired_time {
                return Ok(());
            }
            let params = [("uploadId".to_string(), id)];
            let key = CosKey {
                secret_id: &tok.cred.secret_id,
                secret_key: &tok.cred.secret_key,
                token: Some(&tok.cred.token),
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

mod answer;
mod resume;
mod token;
