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
//!   about to run out mid-file is renewed by ApplyUploadUGC with the
//!   vodSessionKey (same storagePath, so the parts sent stay); only when
//!   that fails does the part fail with [`VodErrorKind::SessionExpired`]
//!   and the pipeline start over.
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
//! Files: this one (the steps and the flow), [`client`] (the client and its
//! three kinds of request), [`resume`], [`token`] (the session token),
//! [`answer`] (reading answers), [`actions`] (the call names).

use bytes::Bytes;
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Map, json};

use super::cos::{self, CosKey, Object};
use super::error::{VodError, VodErrorKind};
use super::flow::{
    AbortReason, CoverRequest, Media, Part, Session, StartRequest, Started, Step, UploadFlow,
    UploadSettings,
};
use super::rules::api3::part_size_for;
use super::rules::parts::part_count;
use super::rules::{cos_xml, ugc_d};
use actions::{ABORT, APPLY, COMMIT, COMPLETE, INITIATE, PART, PUT};
use answer::Applied;
use token::{FileFacts, Token, now};

pub use client::{UgcClient, UgcConfig};

/// The flow's name in sessions and `--protocol`.
pub const NAME: &str = "ugc";

impl UgcClient {
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
                growth: None,
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
    /// A kept signature the service refuses (it expired meanwhile, or the
    /// signer's key changed) is replaced by a fresh one from the signer,
    /// once, as the service's code 10004 asks.
    async fn commit(&self, tok: &Token) -> Result<Media, VodError> {
        let kept = tok.signature.as_deref();
        let (sig, _) = self.signature(&tok.facts, COMMIT, kept).await?;
        let mut body = Map::new();
        body.insert("vodSessionKey".into(), json!(tok.session_key));
        let r = match self.call(COMMIT, &sig, body.clone()).await {
            Err(e) if kept == Some(sig.as_str()) && signature_refused(&e) => {
                tracing::info!(key = %tok.key, "the kept signature was refused ({e}); asking the signer again");
                let (fresh, _) = self.signature(&tok.facts, COMMIT, None).await?;
                self.call(COMMIT, &fresh, body).await?
            }
            r => r?,
        };
        answer::media(&r, COMMIT)
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

/// The service refused the call's signature (code 10004: ask the signer
/// for a new one).
fn signature_refused(e: &VodError) -> bool {
    matches!(e.kind, VodErrorKind::Service { code, .. } if ugc_d::is_signature_refusal(code))
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

pub mod actions;
mod answer;
mod client;
mod resume;
mod token;
