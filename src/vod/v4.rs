//! Family A, server upload v4: InitUpload / UploadPart / FinishUpload
//! (protocol.md §2), authenticated with the v2 common parameters (§1); and,
//! with the same wire format and answers, family B (UGC v4, §3):
//! InitUploadEx / UploadPartEx / FinishUploadEx authenticated by one
//! `signature` parameter from a [`SignatureProvider`] ([`V4Client::ugc`]).
//!
//! Design decisions:
//! - Every call is a POST to one endpoint path (`/v3/index.php` unless the
//!   endpoint URL names another) with **all** parameters in the query string
//!   and the raw part bytes (or nothing) as the body, as every v4 SDK does;
//!   the signature covers `POST host path ? sorted raw params`.
//! - Each request gets a fresh `Nonce` and `Timestamp` (a retried call is a
//!   new request to the replay cache), `SignatureMethod=HmacSHA256`.
//! - Responses are validated strictly ([`super::reply`]): unreadable JSON, missing
//!   or mistyped fields, a url that is not http(s), a fileId that changes
//!   between InitUpload code 2 and FinishUpload are errors, never panics.
//! - InitUpload code 1 adopts the service's `dataSize`; `listParts` entries
//!   may key the MD5 `dataMd5` or `dataSha` (a documented typo). Code 2 is
//!   followed by FinishUpload, as all four v4 SDKs do.
//! - HTTP (pooled keep-alive client, bounded answers) is [`super::http`];
//!   part bodies are `Bytes`, never copied.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use url::Url;

use super::error::{VodError, VodErrorKind};
use super::flow::{
    CoverRequest, HeldPart, Media, Part, Session, StartRequest, Started, Step, UploadFlow,
};
use super::http::{self, Endpoint, HttpConfig};
use super::reply::Reply;
use super::rules::codes::{INIT_INSTANT, INIT_NEW, INIT_RESUMABLE};
use super::rules::parts::MAX_COVER;
use super::rules::settings::MAX_TAGS;
use super::sign;
use super::ugc::{self, SignRequest, SignatureProvider};

pub use super::credentials::Credentials;

/// The quality-reporting call (protocol.md §2.5).
const REPORT: &str = "Report";

const INIT: &str = "InitUpload";
const PART: &str = "UploadPart";
const FINISH: &str = "FinishUpload";
const INIT_EX: &str = "InitUploadEx";
const PART_EX: &str = "UploadPartEx";
const FINISH_EX: &str = "FinishUploadEx";
const SMALL_FILE: &str = "SmallFileUpload";

/// The family B flow's name in sessions and `--protocol` (`ugc` is family D).
pub const UGC_EX: &str = "ugc-ex";

/// How requests are authenticated: the family.
#[derive(Clone)]
enum Auth {
    /// Family A: v2 common parameters signed with the account's key.
    Server { region: String, creds: Credentials },
    /// Family B: one UGC signature per file, from a provider.
    Ugc(Arc<dyn SignatureProvider>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Server { region, creds } => f
                .debug_struct("Server")
                .field("region", region)
                .field("creds", creds)
                .finish(),
            Auth::Ugc(_) => f.write_str("Ugc"),
        }
    }
}

/// Connection settings of a v4 client.
#[derive(Debug, Clone)]
pub struct V4Config {
    /// `http://host:port` or a full URL including the index path.
    pub endpoint: String,
    /// The `Region` common parameter.
    pub region: String,
    /// Stall and connect limits ([`crate::vod::stall`]).
    pub timeouts: crate::vod::stall::Timeouts,
}

impl V4Config {
    pub fn new(endpoint: impl Into<String>) -> Self {
        let http = HttpConfig::new(endpoint);
        V4Config {
            endpoint: http.endpoint,
            region: "gz".into(),
            timeouts: http.timeouts,
        }
    }
}

/// The family A (and B) client.
#[derive(Debug, Clone)]
pub struct V4Client {
    endpoint: Endpoint,
    auth: Auth,
}

fn endpoint(config: &V4Config, action: &'static str) -> Result<Endpoint, VodError> {
    Endpoint::new(&HttpConfig {
        endpoint: config.endpoint.clone(),
        timeouts: config.timeouts,
    })
    .map_err(|why| VodError::new(action, VodErrorKind::Request(why)))
}

impl V4Client {
    /// A family A client; fails on an endpoint that is not an http(s) URL.
    pub fn new(config: V4Config, creds: Credentials) -> Result<Self, VodError> {
        Ok(V4Client {
            endpoint: endpoint(&config, INIT)?,
            auth: Auth::Server {
                region: config.region,
                creds,
            },
        })
    }

    /// A family B (UGC) client; `config.region` is not used.
    pub fn ugc(config: V4Config, signer: Arc<dyn SignatureProvider>) -> Result<Self, VodError> {
        Ok(V4Client {
            endpoint: endpoint(&config, INIT_EX)?,
            auth: Auth::Ugc(signer),
        })
    }

    fn is_ugc(&self) -> bool {
        matches!(self.auth, Auth::Ugc(_))
    }

    /// The URL every call goes to (without its query).
    pub fn endpoint(&self) -> &Url {
        self.endpoint.url()
    }

    /// Common parameters, signed, for one call: the wire query string.
    fn signed_query(
        &self,
        region: &str,
        creds: &Credentials,
        action: &str,
        params: Vec<(String, String)>,
    ) -> String {
        http::v2_query(
            creds,
            region,
            "POST",
            self.endpoint.host(),
            self.endpoint.path(),
            action,
            params,
        )
    }

    /// Makes one call and returns the checked envelope of the answer.
    /// `session` carries the UGC signature in family B.
    async fn call(
        &self,
        step: Step,
        mut params: Vec<(String, String)>,
        session: &Session,
        body: Bytes,
    ) -> Result<Reply, VodError> {
        let action = self.action(step);
        let query = match &self.auth {
            Auth::Server { region, creds } => self.signed_query(region, creds, action, params),
            Auth::Ugc(_) => {
                let sig = session.token.clone().ok_or_else(|| {
                    VodError::new(action, VodErrorKind::Request("no UGC signature".into()))
                })?;
                params.insert(0, ("Action".into(), action.into()));
                params.push(("signature".into(), sig));
                sign::encode_query(&params)
            }
        };
        self.endpoint.post(action, &query, body).await
    }

    /// The UGC signature for a file: a saved one still valid, else a new one.
    async fn ugc_signature(
        &self,
        signer: &dyn SignatureProvider,
        req: &StartRequest,
    ) -> Result<String, VodError> {
        let saved = req
            .resume
            .as_ref()
            .filter(|s| s.sha1_hex == req.sha1_hex)
            .and_then(|s| s.token.clone())
            .filter(|t| ugc::still_valid(t));
        if let Some(sig) = saved {
            return Ok(sig);
        }
        signer
            .signature(&SignRequest {
                file_sha: req.sha1_hex.clone(),
                file_name: req.file_name.clone(),
                file_type: req.file_type.clone(),
                file_size: req.file_size,
                settings: req.settings.clone(),
                format: ugc::SignatureFormat::V4,
                action: INIT_EX,
            })
            .await
    }

    async fn init(&self, req: &StartRequest) -> Result<Started, VodError> {
        let mut session = Session {
            flow: self.name().into(),
            sha1_hex: req.sha1_hex.clone(),
            file_size: req.file_size,
            part_size: req.part_size,
            token: None,
            growth: None,
        };
        let mut params = vec![
            ("fileSha".to_string(), req.sha1_hex.clone()),
            ("fileSize".to_string(), req.file_size.to_string()),
            ("dataSize".to_string(), req.part_size.to_string()),
        ];
        if let Auth::Ugc(signer) = &self.auth {
            // Name, type and settings travel inside the signature.
            session.token = Some(self.ugc_signature(signer.as_ref(), req).await?);
            return self.init_answer(req, session, params).await;
        }
        params.push(("fileName".to_string(), req.file_name.clone()));
        params.push(("fileType".to_string(), req.file_type.clone()));
        let s = &req.settings;
        for (i, tag) in s.tags.iter().take(MAX_TAGS).enumerate() {
            params.push((format!("tags.{}", i + 1), tag.clone()));
        }
        s.push_common_params(&mut params);
        self.init_answer(req, session, params).await
    }

    /// Makes the start call and reads its answer (codes 0, 1, 2).
    async fn init_answer(
        &self,
        req: &StartRequest,
        mut session: Session,
        params: Vec<(String, String)>,
    ) -> Result<Started, VodError> {
        let reply = self
            .call(Step::Start, params, &session, Bytes::new())
            .await?;
        reply.check_sha(&req.sha1_hex)?;
        match reply.code {
            INIT_NEW => Ok(Started::Upload {
                session,
                held: Vec::new(),
                resumed: false,
            }),
            INIT_RESUMABLE => {
                session.part_size = reply.data_size()?;
                let held: Vec<HeldPart> = reply.list_parts(session.part_size, req.file_size)?;
                Ok(Started::Upload {
                    session,
                    held,
                    resumed: true,
                })
            }
            INIT_INSTANT => {
                let first = reply.media()?;
                // Every v4 SDK calls FinishUpload after an instant upload.
                let media = self.finish_call(&session).await?;
                if media.file_id != first.file_id {
                    return Err(VodError::bad_response(
                        self.action(Step::Finish),
                        format!(
                            "fileId changed from {} ({}) to {}",
                            first.file_id,
                            self.action(Step::Start),
                            media.file_id
                        ),
                    ));
                }
                Ok(Started::Complete { session, media })
            }
            _ => Err(reply.unexpected_code()),
        }
    }

    async fn part(&self, session: &Session, part: Part) -> Result<(), VodError> {
        let params = vec![
            ("fileSha".to_string(), session.sha1_hex.clone()),
            ("offset".to_string(), part.offset.to_string()),
            ("dataSize".to_string(), part.data.len().to_string()),
            ("dataMd5".to_string(), part.md5_hex.clone()),
        ];
        let reply = self.call(Step::Part, params, session, part.data).await?;
        match reply.code {
            0 => Ok(()),
            _ => Err(reply.unexpected_code()),
        }
    }

    async fn finish_call(&self, session: &Session) -> Result<Media, VodError> {
        let params = vec![("fileSha".to_string(), session.sha1_hex.clone())];
        let reply = self
            .call(Step::Finish, params, session, Bytes::new())
            .await?;
        reply.check_sha(&session.sha1_hex)?;
        match reply.code {
            0 => reply.media(),
            _ => Err(reply.unexpected_code()),
        }
    }
}

impl V4Client {
    /// SmallFileUpload (protocol.md §2.4): the cover's bytes as the body,
    /// `extra.usage=1` and `extra.fileId` naming the video. Family A only:
    /// family B has no cover call (a UGC signature covers one file's
    /// InitUploadEx/UploadPartEx/FinishUploadEx, nothing else).
    async fn small_file_upload(
        &self,
        video: &Media,
        cover: &CoverRequest,
    ) -> Result<String, VodError> {
        let Auth::Server { region, creds } = &self.auth else {
            return Err(VodError::new(
                SMALL_FILE,
                VodErrorKind::Request(
                    "the ugc flow has no cover call (SmallFileUpload needs the account's SecretKey)"
                        .into(),
                ),
            ));
        };
        let size = cover.data.len() as u64;
        if size > MAX_COVER {
            return Err(VodError::new(
                SMALL_FILE,
                VodErrorKind::Request(format!(
                    "cover is {size} bytes; SmallFileUpload takes at most {MAX_COVER}"
                )),
            ));
        }
        let params = vec![
            ("fileName".to_string(), cover.file_name.clone()),
            ("fileSha".to_string(), cover.sha1_hex.clone()),
            ("fileSize".to_string(), size.to_string()),
            ("dataSize".to_string(), size.to_string()),
            ("fileType".to_string(), cover.file_type.clone()),
            ("offset".to_string(), "0".to_string()),
            ("extra.usage".to_string(), "1".to_string()),
            ("extra.fileId".to_string(), video.file_id.clone()),
        ];
        let query = self.signed_query(region, creds, SMALL_FILE, params);
        let reply = self
            .endpoint
            .post(SMALL_FILE, &query, cover.data.clone())
            .await?;
        match reply.code {
            0 => reply.media()?.url.ok_or_else(|| {
                VodError::bad_response(SMALL_FILE, "no cover url in the answer".to_string())
            }),
            _ => Err(reply.unexpected_code()),
        }
    }
}

impl UploadFlow for V4Client {
    /// A quality `Report` (§2.5, as the official v4 SDKs send), signed
    /// with the account's key: code 0 with good credentials, 4100 with
    /// refused ones. Family B (ugc-ex) holds no key: nothing to check.
    fn check_account(&self) -> BoxFuture<'_, Result<(), VodError>> {
        Box::pin(async move {
            let Auth::Server { region, creds } = &self.auth else {
                return Ok(());
            };
            let params = vec![
                ("errCode".to_string(), "0".to_string()),
                ("platform".to_string(), "vodfs".to_string()),
                ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ];
            let q = self.signed_query(region, creds, REPORT, params);
            super::reply::account_check(self.endpoint.post(REPORT, &q, Bytes::new()).await)
        })
    }

    fn upload_cover<'a>(
        &'a self,
        video: &'a Media,
        cover: &'a CoverRequest,
    ) -> BoxFuture<'a, Result<String, VodError>> {
        Box::pin(self.small_file_upload(video, cover))
    }

    fn name(&self) -> &'static str {
        if self.is_ugc() { UGC_EX } else { "v4" }
    }

    fn action(&self, step: Step) -> &'static str {
        match (step, self.is_ugc()) {
            (Step::Start, false) => INIT,
            (Step::Part, false) => PART,
            (Step::Finish, false) => FINISH,
            (Step::Start, true) => INIT_EX,
            (Step::Part, true) => PART_EX,
            (Step::Finish, true) => FINISH_EX,
        }
    }

    fn start<'a>(&'a self, req: &'a StartRequest) -> BoxFuture<'a, Result<Started, VodError>> {
        Box::pin(self.init(req))
    }

    fn send_part<'a>(
        &'a self,
        session: &'a Session,
        part: Part,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        Box::pin(self.part(session, part))
    }

    fn finish<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<Media, VodError>> {
        Box::pin(self.finish_call(session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_key() {
        let c = Credentials::new("AKIDid", "topsecretkey");
        let d = format!("{c:?}");
        assert!(d.contains("AKIDid"));
        assert!(!d.contains("topsecretkey"));
        let client = V4Client::new(V4Config::new("http://127.0.0.1:1"), c).unwrap();
        assert!(!format!("{client:?}").contains("topsecretkey"));
    }

    #[test]
    fn bad_endpoints_are_refused() {
        let c = Credentials::new("a", "b");
        assert!(V4Client::new(V4Config::new("ftp://x"), c.clone()).is_err());
        assert!(V4Client::new(V4Config::new("not a url"), c).is_err());
    }

    #[test]
    fn signed_query_verifies_and_encodes_every_value() {
        let cl = V4Client::new(
            V4Config::new("http://127.0.0.1:8700"),
            Credentials::new("AKIDid", "key+/="),
        )
        .unwrap();
        let Auth::Server { region, creds } = cl.auth.clone() else {
            unreachable!()
        };
        let q = cl.signed_query(
            &region,
            &creds,
            "InitUpload",
            vec![("fileName".into(), "a b+c".into())],
        );
        assert!(q.contains("fileName=a%20b%2Bc"));
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let sig = pairs
            .iter()
            .find(|(k, _)| k == "Signature")
            .map(|(_, v)| v.clone())
            .unwrap();
        assert!(sign::verify_v2(
            "key+/=",
            "POST",
            "127.0.0.1:8700",
            "/v3/index.php",
            &pairs,
            &sig
        ));
        // A second request never reuses the nonce (replay cache, 4500).
        let q2 = cl.signed_query(&region, &creds, "InitUpload", vec![]);
        let nonce = |q: &str| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "Nonce")
                .map(|(_, v)| v.into_owned())
        };
        assert_ne!(nonce(&q), nonce(&q2));
    }
}
