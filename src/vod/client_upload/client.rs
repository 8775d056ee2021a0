//! The `ugc` client itself: its endpoint, signer and COS client, and the
//! three kinds of request every step makes (a signature from the signer, a
//! signed family D call, a COS request with the session's credential).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use serde_json::{Map, Value, json};
use url::Url;

use super::super::cos::{self, CosClient, CosKey, Object};
use super::super::error::{VodError, VodErrorKind};
use super::super::http;
use super::super::reply::Reply;
use super::super::rules::api3::MAX_PARTS;
use super::super::rules::cos_xml;
use super::super::stall;
use super::super::ugc::{SignRequest, SignatureFormat, SignatureProvider, V5Terms};
use super::actions::{APPLY, LIST};
use super::answer::envelope;
use super::token::{FileFacts, TempCred, Token};

/// Settings of the `ugc` flow.
#[derive(Debug, Clone)]
pub struct UgcConfig {
    /// `http(s)://host[:port]` (the path `/v3/index.php` is added) or a
    /// full URL naming the path (`https://vod2.qcloud.com/v3/index.php`).
    pub endpoint: String,
    /// Where COS requests connect; `None`: see [`cos::route`].
    pub cos_endpoint: Option<String>,
    /// Stall and connect limits ([`crate::vod::stall`]).
    pub timeouts: stall::Timeouts,
}

impl UgcConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        UgcConfig {
            endpoint: endpoint.into(),
            cos_endpoint: None,
            timeouts: stall::Timeouts::default(),
        }
    }
}

/// The family D client.
#[derive(Clone)]
pub struct UgcClient {
    http: reqwest::Client,
    /// A request that moves no byte for this long is abandoned.
    stall: Duration,
    url: Url,
    signer: Arc<dyn SignatureProvider>,
    pub(super) cos: CosClient,
    /// Credentials renewed mid-file (ApplyUploadUGC with the session's
    /// vodSessionKey), by session key: the session token the pipeline holds
    /// keeps its first one. Locked across a renewal, so parallel parts
    /// renew once.
    pub(super) renewed: Arc<tokio::sync::Mutex<HashMap<String, TempCred>>>,
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
            http: http::client(config.timeouts.connect).map_err(bad)?,
            stall: config.timeouts.stall,
            url,
            signer,
            cos: CosClient::new(base, config.timeouts).map_err(bad)?,
            renewed: Arc::default(),
        })
    }

    /// A signature for `action` of the file: `reuse` when it may be, else
    /// the signer's; with whether it may be kept for the next call.
    pub(super) async fn signature(
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
    pub(super) async fn call(
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
        let progress = stall::Progress::default();
        let request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_LENGTH, bytes.len())
            .body(progress.body(bytes.into()));
        let (status, buf) = http::exchange(action, request, &progress, self.stall).await?;
        envelope(action, status, &buf)
    }

    /// One COS request with the session's credential, renewed first when it
    /// is about to run out ([`UgcClient::live_cred`]); a 403 once it has run
    /// out is [`VodErrorKind::SessionExpired`].
    pub(super) async fn cos(
        &self,
        action: &'static str,
        method: Method,
        tok: &Token,
        key_path: &str,
        params: &[(String, String)],
        body: Bytes,
    ) -> Result<cos::CosReply, VodError> {
        let c = &self.live_cred(tok, action).await?;
        let key = CosKey {
            secret_id: &c.secret_id,
            secret_key: &c.secret_key,
            token: Some(&c.token),
        };
        let object = Object {
            host: &tok.cos_host,
            key: key_path,
        };
        let r = self
            .cos
            .request(action, method, object, params, body, &key)
            .await;
        cos::expired_as_session(r, action, c)
    }

    /// Every part COS holds for the session's multipart upload.
    pub(super) async fn list(
        &self,
        tok: &Token,
        id: &str,
    ) -> Result<Vec<cos_xml::ListedPart>, VodError> {
        cos::list_all_parts(LIST, id, MAX_PARTS, |params| async move {
            self.cos(LIST, Method::GET, tok, &tok.key, &params, Bytes::new())
                .await
        })
        .await
    }
}
