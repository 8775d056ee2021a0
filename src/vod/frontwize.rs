//! Family F, the frontwize (QingCloud VOD) REST flow (protocol.md §10):
//! `POST /v1/media` → `PUT` of the whole file to the presigned StoragePath →
//! `POST /api/v1/media/<MediaId>/uploaded` with Status CREATED.
//!
//! Design decisions:
//! - A [`Transfer::Object`] flow: the content goes in one streamed PUT (no
//!   parts, no resume: a retry is a fresh PUT).
//! - Requests to the API carry `X-Qvod-Date` and the `QVOD-HMAC-SHA256`
//!   Authorization of `vod::sign` (the vendor's algorithm is undocumented;
//!   this is the one `vodfs serve` checks).
//! - A presigned URL that has expired (or will within 10 s) is replaced by
//!   applying again before the PUT; a PUT refused with 403 marks the URL
//!   stale so the retry applies again.
//! - Failures for good post Status FAILED, a cancelled upload CANCELLED.
//! - A null PlayUrl is a commit without URL, not an error.
//! - Of the upload settings, only the classId travels (as `CategoryId`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::credentials::Credentials;
use super::error::{VodError, VodErrorKind};
use super::flow::{
    AbortReason, Media, ObjectBody, Part, Session, StartRequest, Started, Step, Transfer,
    UploadFlow,
};
use super::sign;
use super::stall;
use crate::report::chain as error_chain;

const APPLY: &str = "ApplyUpload (frontwize)";
const PUT: &str = "PUT (frontwize)";
const COMMIT: &str = "uploaded (frontwize)";

/// Settings of the frontwize flow.
#[derive(Debug, Clone)]
pub struct FrontwizeConfig {
    /// Base URL of the API (`https://api.vod.frontwize.com`).
    pub endpoint: String,
    /// The `Region` of new media.
    pub region: String,
    /// Stall and connect limits ([`super::stall`]).
    pub timeouts: stall::Timeouts,
}

impl FrontwizeConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        FrontwizeConfig {
            endpoint: endpoint.into(),
            region: "pek3b".into(),
            timeouts: stall::Timeouts::default(),
        }
    }
}

/// The session token of one upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Token {
    media_id: String,
    storage_path: String,
    /// When the presigned URL stops working (0: known stale).
    expires: u64,
    title: String,
    media_type: String,
    /// `CategoryId` of the media: the upload settings' classId.
    #[serde(default)]
    category_id: Option<u64>,
}

pub use super::rules::media_types::media_type;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The frontwize client.
#[derive(Debug, Clone)]
pub struct FrontwizeClient {
    http: reqwest::Client,
    stall: Duration,
    base: Url,
    region: String,
    creds: Credentials,
}

impl FrontwizeClient {
    pub fn new(config: FrontwizeConfig, creds: Credentials) -> Result<Self, VodError> {
        let bad = |why: String| VodError::new(APPLY, VodErrorKind::Request(why));
        let base = Url::parse(&config.endpoint).map_err(|e| bad(format!("endpoint: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("endpoint must be http or https".into()));
        }
        let http = super::http::client(config.timeouts.connect).map_err(bad)?;
        Ok(FrontwizeClient {
            http,
            stall: config.timeouts.stall,
            base,
            region: config.region,
            creds,
        })
    }

    fn transport(action: &'static str) -> impl Fn(reqwest::Error) -> VodError {
        move |e| {
            VodError::new(
                action,
                VodErrorKind::Transport {
                    timeout: e.is_timeout(),
                    message: error_chain(&e.without_url()),
                },
            )
        }
    }

    /// Reads a REST answer: 2xx with `ret_code` 0, or `{code, message}`.
    async fn answer(action: &'static str, resp: reqwest::Response) -> Result<Value, VodError> {
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(Self::transport(action))?;
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if !(200..300).contains(&status) {
            let field = |k: &str| {
                parsed
                    .as_ref()
                    .and_then(|v| v.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            return Err(VodError::new(
                action,
                VodErrorKind::Rest {
                    status,
                    code: field("code"),
                    message: field("message"),
                },
            ));
        }
        let v = parsed.ok_or_else(|| {
            VodError::new(
                action,
                VodErrorKind::BadResponse {
                    reason: "body is not JSON".into(),
                    retryable: true,
                },
            )
        })?;
        match v.get("ret_code").and_then(Value::as_i64) {
            Some(0) => Ok(v),
            _ => Err(VodError::bad_response(action, "ret_code is not 0")),
        }
    }

    /// One authenticated JSON POST to the API.
    async fn api(&self, action: &'static str, path: &str, body: &Value) -> Result<Value, VodError> {
        let bytes = body.to_string().into_bytes();
        let date = now().to_string();
        // A new nonce per attempt: a retry is a new request.
        let nonce = format!("{:032x}", rand::random::<u128>());
        let auth = sign::frontwize_authorization(
            &self.creds.secret_id,
            self.creds.secret_key(),
            "POST",
            path,
            &date,
            &nonce,
            &bytes,
        );
        let mut url = self.base.clone();
        url.set_path(path);
        let progress = stall::Progress::default();
        let request = self
            .http
            .post(url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(sign::FRONTWIZE_DATE_HEADER, date)
            .header(sign::FRONTWIZE_NONCE_HEADER, nonce)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_LENGTH, bytes.len())
            .body(progress.body(bytes.into()));
        let exchange = async {
            let resp = request.send().await.map_err(Self::transport(action))?;
            progress.touch();
            Self::answer(action, resp).await
        };
        stall::guard(&progress, self.stall, exchange)
            .await
            .map_err(|s| stall::error(action, s))?
    }

    /// POST /v1/media: a new MediaId and presigned URL.
    async fn apply(
        &self,
        title: &str,
        media_type: &str,
        category_id: Option<u64>,
    ) -> Result<Token, VodError> {
        let mut body = json!({"Title": title, "Region": self.region, "MediaType": media_type});
        if let Some(c) = category_id {
            body["CategoryId"] = json!(c);
        }
        let v = self.api(APPLY, "/v1/media", &body).await?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let media_id = text("MediaId");
        let storage_path = text("StoragePath");
        if media_id.is_empty() || !media_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(VodError::bad_response(
                APPLY,
                "MediaId is missing or not an id",
            ));
        }
        let url = Url::parse(&storage_path)
            .map_err(|_| VodError::bad_response(APPLY, "StoragePath is not a URL"))?;
        let expires = url
            .query_pairs()
            .find(|(k, _)| k == "X-Qvod-Expires" || k == "X-Amz-Expires")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            // X-Amz-Expires is a duration; X-Qvod-Expires a time.
            .map(|v| if v < 1_000_000_000 { now() + v } else { v })
            .unwrap_or(now() + 180);
        Ok(Token {
            media_id,
            storage_path,
            expires,
            title: title.to_string(),
            media_type: media_type.to_string(),
            category_id,
        })
    }

    fn token(session: &Session, action: &'static str) -> Result<Token, VodError> {
        session
            .token
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| VodError::new(action, VodErrorKind::Request("no media session".into())))
    }

    fn store(session: &mut Session, tok: &Token) {
        session.token = serde_json::to_string(tok).ok();
    }

    async fn start_upload(&self, req: &StartRequest) -> Result<Started, VodError> {
        let tok = self
            .apply(
                &req.file_name,
                media_type(&req.file_type),
                req.settings.class_id,
            )
            .await?;
        let mut session = Session {
            flow: "frontwize".into(),
            sha1_hex: req.sha1_hex.clone(),
            file_size: req.file_size,
            part_size: req.part_size,
            token: None,
            growth: None,
        };
        Self::store(&mut session, &tok);
        Ok(Started::Upload {
            session,
            held: Vec::new(),
            resumed: false,
        })
    }

    async fn put(&self, session: &mut Session, body: ObjectBody) -> Result<(), VodError> {
        let mut tok = Self::token(session, PUT)?;
        if tok.expires < now() + 10 {
            // The old MediaId is left APPLIED; the service expires it.
            tok = self
                .apply(&tok.title, &tok.media_type, tok.category_id)
                .await?;
            Self::store(session, &tok);
        }
        let progress = stall::Progress::default();
        let request = self
            .http
            .put(&tok.storage_path)
            .header(reqwest::header::CONTENT_TYPE, &tok.media_type)
            .header(reqwest::header::CONTENT_LENGTH, body.len)
            .body(reqwest::Body::wrap_stream(
                progress.stream(body.stream, body.len),
            ));
        let exchange = async {
            let resp = request.send().await.map_err(Self::transport(PUT))?;
            progress.touch();
            let status = resp.status().as_u16();
            let text = if status == 403 {
                resp.text().await.unwrap_or_default()
            } else {
                String::new()
            };
            Ok::<_, VodError>((status, text))
        };
        let (status, text) = stall::guard(&progress, self.stall, exchange)
            .await
            .map_err(|s| stall::error(PUT, s))??;
        if status == 403 {
            tok.expires = 0;
            Self::store(session, &tok);
            return Err(VodError::new(
                PUT,
                VodErrorKind::BadResponse {
                    reason: format!("upload URL refused ({}); applying again", text.trim()),
                    retryable: true,
                },
            ));
        }
        if !(200..300).contains(&status) {
            return Err(VodError::new(PUT, VodErrorKind::Status { status }));
        }
        Ok(())
    }

    async fn uploaded(&self, session: &Session, status: &str) -> Result<Media, VodError> {
        let tok = Self::token(session, COMMIT)?;
        let path = format!("/api/v1/media/{}/uploaded", tok.media_id);
        let v = self.api(COMMIT, &path, &json!({"Status": status})).await?;
        let id = match v.get("MediaId") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            _ => return Err(VodError::bad_response(COMMIT, "MediaId is missing")),
        };
        if id != tok.media_id {
            return Err(VodError::bad_response(
                COMMIT,
                format!("MediaId changed from {} to {id}", tok.media_id),
            ));
        }
        let url = match v.get("PlayUrl") {
            None | Some(Value::Null) => None,
            Some(Value::String(u)) => match Url::parse(u) {
                Ok(p) if matches!(p.scheme(), "http" | "https") => Some(u.clone()),
                _ => {
                    return Err(VodError::bad_response(
                        COMMIT,
                        format!("PlayUrl {u:?} is not a URL"),
                    ));
                }
            },
            Some(_) => return Err(VodError::bad_response(COMMIT, "PlayUrl is not a string")),
        };
        Ok(Media {
            file_id: id,
            url,
            cover_url: None,
        })
    }
}

impl UploadFlow for FrontwizeClient {
    fn name(&self) -> &'static str {
        "frontwize"
    }

    fn action(&self, step: Step) -> &'static str {
        match step {
            Step::Start => APPLY,
            Step::Part => PUT,
            Step::Finish => COMMIT,
        }
    }

    fn transfer(&self) -> Transfer {
        Transfer::Object
    }

    fn start<'a>(&'a self, req: &'a StartRequest) -> BoxFuture<'a, Result<Started, VodError>> {
        Box::pin(self.start_upload(req))
    }

    fn send_part<'a>(
        &'a self,
        _session: &'a Session,
        _part: Part,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        Box::pin(async {
            Err(VodError::new(
                PUT,
                VodErrorKind::Request("frontwize takes the whole object".into()),
            ))
        })
    }

    fn send_object<'a>(
        &'a self,
        session: &'a mut Session,
        body: ObjectBody,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        Box::pin(self.put(session, body))
    }

    fn finish<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<Media, VodError>> {
        Box::pin(self.uploaded(session, "CREATED"))
    }

    fn abort<'a>(
        &'a self,
        session: &'a Session,
        reason: AbortReason,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        let status = match reason {
            AbortReason::Cancelled => "CANCELLED",
            AbortReason::Failed => "FAILED",
        };
        Box::pin(async move { self.uploaded(session, status).await.map(|_| ()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let c = FrontwizeClient::new(
            FrontwizeConfig::new("http://127.0.0.1:1"),
            Credentials::new("id", "sekrit-key"),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("sekrit-key"));
        assert!(
            FrontwizeClient::new(FrontwizeConfig::new("ftp://x"), Credentials::new("a", "b"))
                .is_err()
        );
    }
}
