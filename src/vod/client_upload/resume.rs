//! Resuming a saved `ugc` session (the token in the cache) after a restart
//! or a failed attempt: while the session lives, ApplyUploadUGC with its
//! vodSessionKey renews the temporary credential for the same storagePath
//! and ListParts says which parts COS holds; a session that cannot be
//! continued is asked CommitUploadUGC first (it may have been committed
//! before the mount recorded it), and otherwise the file starts afresh.
//! The same renewal keeps a credential alive mid-file ([`UgcClient::live_cred`]).

use serde_json::{Map, json};

use super::super::error::{VodError, VodErrorKind};
use super::super::flow::{HeldPart, Session, StartRequest, Started};
use super::actions::APPLY;
use super::answer::Applied;
use super::client::UgcClient;
use super::token::{TempCred, Token, no_such_upload, now};

impl UgcClient {
    /// The saved session continued (`Some`), or `None` to start afresh. A
    /// retryable failure is an error, so the pipeline retries the start.
    pub(super) async fn resume(
        &self,
        req: &StartRequest,
        saved: &Session,
    ) -> Result<Option<Started>, VodError> {
        let Ok(tok) = Token::read(saved.token.as_deref(), APPLY) else {
            return Ok(None);
        };
        if !tok.alive(now()) {
            let why = format!(
                "the session applied for at {} has expired (sessions last a day)",
                tok.applied
            );
            return Ok(self.committed_before(req, saved, &tok, &why).await);
        }
        let tok = match self.renew(&tok).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                let why = "the service gave the session another storagePath";
                return Ok(self.committed_before(req, saved, &tok, why).await);
            }
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                let why = format!("the service did not renew it ({e})");
                return Ok(self.committed_before(req, saved, &tok, &why).await);
            }
        };
        let held = match &tok.upload_id {
            Some(id) => match self.list(&tok, id).await {
                Ok(parts) => {
                    let ps = u64::from(saved.part_size);
                    parts
                        .into_iter()
                        .filter(|p| p.number >= 1)
                        .map(|p| HeldPart {
                            offset: u64::from(p.number - 1) * ps,
                            size: p.size,
                            md5_hex: p.etag,
                        })
                        .filter(|h| h.offset < req.file_size)
                        .collect()
                }
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => {
                    let why = if no_such_upload(&e) {
                        "its multipart upload is gone".to_string()
                    } else {
                        format!("its parts cannot be listed ({e})")
                    };
                    return Ok(self.committed_before(req, saved, &tok, &why).await);
                }
            },
            // One PUT: the object may be there and even committed.
            None if saved.file_size > 0 => {
                if let Some(done) = self.committed_before(req, saved, &tok, "").await {
                    return Ok(Some(done));
                }
                Vec::new()
            }
            None => Vec::new(),
        };
        tracing::info!(file = %req.file_name, parts_held = held.len(), "resuming the saved upload session");
        let session = Session {
            token: Some(tok.write(APPLY)?),
            growth: None,
            ..saved.clone()
        };
        Ok(Some(Started::Upload {
            session,
            held,
            resumed: true,
        }))
    }

    /// The credential COS requests of `tok` use: the newest one known for
    /// the session while it lives long enough, else a renewed one
    /// (ApplyUploadUGC with the vodSessionKey, as vod-js-sdk-v6 does before
    /// its credential runs out), so a file outlasting one credential is
    /// not started over. A renewal that fails is
    /// [`VodErrorKind::SessionExpired`] (the file starts over), unless the
    /// failure may pass (then it is retried as it is).
    pub(super) async fn live_cred(
        &self,
        tok: &Token,
        action: &'static str,
    ) -> Result<TempCred, VodError> {
        let t = now();
        if tok.cred.usable(t) {
            return Ok(tok.cred.clone());
        }
        let mut renewed = self.renewed.lock().await;
        if let Some(c) = renewed.get(&tok.session_key).filter(|c| c.usable(t)) {
            return Ok(c.clone());
        }
        let expired = |why: String| VodError::new(action, VodErrorKind::SessionExpired(why));
        if !tok.alive(t) {
            return Err(expired("the upload session has lived its day".into()));
        }
        let fresh = match self.renew(tok).await {
            Ok(Some(fresh)) => fresh.cred,
            Ok(None) => {
                return Err(expired(
                    "renewing the credential gave another storagePath".into(),
                ));
            }
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                return Err(expired(format!(
                    "the session's temporary credential expires at {} and was not renewed: {e}",
                    tok.cred.expired_time
                )));
            }
        };
        tracing::info!(key = %tok.key, expires = fresh.expired_time, "renewed the session's temporary credential");
        renewed.retain(|_, c| c.expired_time > t);
        renewed.insert(tok.session_key.clone(), fresh.clone());
        Ok(fresh)
    }

    /// ApplyUploadUGC with the session's vodSessionKey: the token with a
    /// fresh credential (and signature), or `None` when the answer names
    /// another storagePath (the multipart upload cannot be continued).
    async fn renew(&self, tok: &Token) -> Result<Option<Token>, VodError> {
        let (sig, keep) = self.signature(&tok.facts, APPLY, None).await?;
        let mut body = Map::new();
        body.insert("vodSessionKey".into(), json!(tok.session_key));
        let r = self.call(APPLY, &sig, body).await?;
        let a = Applied::read(&r, APPLY)?;
        if a.key.as_deref() != Some(tok.key.as_str()) || a.cos_host != tok.cos_host {
            return Ok(None);
        }
        Ok(Some(Token {
            session_key: a.session_key,
            cred: a.cred,
            signature: keep.then_some(sig),
            ..tok.clone()
        }))
    }

    /// CommitUploadUGC of a saved session that cannot be continued: its
    /// media when it was committed already (so the file never becomes a
    /// second media), else `None`, logged with `why` when given.
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
                    tracing::info!(file = %req.file_name, "saved session not resumable ({why}; commit: {e}): starting afresh with a new session");
                }
                None
            }
        }
    }
}
