//! Family A, server upload v4: InitUpload / UploadPart / FinishUpload
//! (protocol.md §2), authenticated with the v2 common parameters (§1).
//!
//! Design decisions:
//! - Every call is a POST to one endpoint path (`/v3/index.php` unless the
//!   endpoint URL names another) with **all** parameters in the query string
//!   and the raw part bytes (or nothing) as the body, as every v4 SDK does;
//!   the signature covers `POST host path ? sorted raw params`.
//! - Each request gets a fresh `Nonce` and `Timestamp` (a retried call is a
//!   new request to the replay cache), `SignatureMethod=HmacSHA256`.
//! - Responses are validated strictly ([`parse`]): unreadable JSON, missing
//!   or mistyped fields, a url that is not http(s), a fileId that changes
//!   between InitUpload code 2 and FinishUpload are errors, never panics.
//! - InitUpload code 1 adopts the service's `dataSize`; `listParts` entries
//!   may key the MD5 `dataMd5` or `dataSha` (a documented typo). Code 2 is
//!   followed by FinishUpload, as all four v4 SDKs do.
//! - One pooled keep-alive `reqwest::Client`; part bodies are `Bytes`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::BoxFuture;
use url::Url;

use super::error::{VodError, VodErrorKind};
use super::sign;
use super::{HeldPart, Media, Part, Session, StartRequest, Started, Step, UploadFlow};

pub mod parse;

const INIT: &str = "InitUpload";
const PART: &str = "UploadPart";
const FINISH: &str = "FinishUpload";

/// The largest response body read; anything longer is a bad response.
const MAX_RESPONSE: usize = 1 << 20;

/// An account's API key pair. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub secret_id: String,
    secret_key: String,
}

impl Credentials {
    pub fn new(secret_id: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Credentials {
            secret_id: secret_id.into(),
            secret_key: secret_key.into(),
        }
    }

    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// Connection settings of a v4 client.
#[derive(Debug, Clone)]
pub struct V4Config {
    /// `http://host:port` or a full URL including the index path.
    pub endpoint: String,
    /// The `Region` common parameter.
    pub region: String,
    /// Whole-request timeout (a part must fit in it).
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl V4Config {
    pub fn new(endpoint: impl Into<String>) -> Self {
        V4Config {
            endpoint: endpoint.into(),
            region: "gz".into(),
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The family A client.
#[derive(Debug, Clone)]
pub struct V4Client {
    http: reqwest::Client,
    /// scheme://host[:port]/path, no query.
    base: Url,
    /// `host[:port]` as sent in the Host header, for the string to sign.
    sign_host: String,
    region: String,
    creds: Credentials,
}

impl V4Client {
    /// Builds a client; fails on an endpoint that is not an http(s) URL.
    pub fn new(config: V4Config, creds: Credentials) -> Result<Self, VodError> {
        let bad = |why: String| VodError::new(INIT, VodErrorKind::Request(why));
        let mut base = Url::parse(&config.endpoint)
            .map_err(|e| bad(format!("endpoint {:?}: {e}", config.endpoint)))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad(format!(
                "endpoint {:?}: scheme must be http or https",
                config.endpoint
            )));
        }
        let host = base
            .host_str()
            .ok_or_else(|| bad(format!("endpoint {:?} has no host", config.endpoint)))?
            .to_string();
        let sign_host = match base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        if base.path().is_empty() || base.path() == "/" {
            base.set_path("/v3/index.php");
        }
        base.set_query(None);
        base.set_fragment(None);
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_keepalive(Duration::from_secs(30))
            .build()
            .map_err(|e| bad(format!("http client: {e}")))?;
        Ok(V4Client {
            http,
            base,
            sign_host,
            region: config.region,
            creds,
        })
    }

    /// The URL every call goes to (without its query).
    pub fn endpoint(&self) -> &Url {
        &self.base
    }

    /// Common parameters, signed, for one call: the wire query string.
    fn signed_query(&self, action: &str, mut params: Vec<(String, String)>) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let nonce: u32 = rand::random_range(1..=u32::MAX);
        params.extend([
            ("Action".to_string(), action.to_string()),
            ("Region".to_string(), self.region.clone()),
            ("Timestamp".to_string(), now.to_string()),
            ("Nonce".to_string(), nonce.to_string()),
            ("SecretId".to_string(), self.creds.secret_id.clone()),
            ("SignatureMethod".to_string(), "HmacSHA256".to_string()),
        ]);
        let signature = sign::sign_v2(
            self.creds.secret_key(),
            "POST",
            &self.sign_host,
            self.base.path(),
            &params,
        );
        params.push(("Signature".to_string(), signature));
        sign::encode_query(&params)
    }

    /// Makes one call and returns the validated JSON object of the answer.
    async fn call(
        &self,
        action: &'static str,
        params: Vec<(String, String)>,
        body: Bytes,
    ) -> Result<parse::Reply, VodError> {
        let mut url = self.base.clone();
        url.set_query(Some(&self.signed_query(action, params)));
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
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
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
        parse::reply(action, status, &buf)
    }

    async fn init(&self, req: &StartRequest) -> Result<Started, VodError> {
        let mut params = vec![
            ("fileName".to_string(), req.file_name.clone()),
            ("fileSha".to_string(), req.sha1_hex.clone()),
            ("fileSize".to_string(), req.file_size.to_string()),
            ("dataSize".to_string(), req.part_size.to_string()),
            ("fileType".to_string(), req.file_type.clone()),
        ];
        let s = &req.settings;
        for (i, tag) in s.tags.iter().take(10).enumerate() {
            params.push((format!("tags.{}", i + 1), tag.clone()));
        }
        if let Some(c) = s.class_id {
            params.push(("classId".into(), c.to_string()));
        }
        for (name, v) in [
            ("isTranscode", s.transcode),
            ("isScreenshot", s.screenshot),
            ("isWatermark", s.watermark),
        ] {
            if let Some(v) = v {
                params.push((name.into(), u8::from(v).to_string()));
            }
        }
        let reply = self.call(INIT, params, Bytes::new()).await?;
        let mut session = Session {
            flow: "v4".into(),
            sha1_hex: req.sha1_hex.clone(),
            file_size: req.file_size,
            part_size: req.part_size,
            token: None,
        };
        reply.check_sha(&req.sha1_hex)?;
        match reply.code {
            0 => Ok(Started::Upload {
                session,
                held: Vec::new(),
                resumed: false,
            }),
            1 => {
                session.part_size = reply.data_size()?;
                let held: Vec<HeldPart> = reply.list_parts(session.part_size, req.file_size)?;
                Ok(Started::Upload {
                    session,
                    held,
                    resumed: true,
                })
            }
            2 => {
                let first = reply.media()?;
                // Every v4 SDK calls FinishUpload after an instant upload.
                let media = self.finish_call(&session).await?;
                if media.file_id != first.file_id {
                    return Err(VodError::bad_response(
                        FINISH,
                        format!(
                            "fileId changed from {} (InitUpload) to {}",
                            first.file_id, media.file_id
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
        let reply = self.call(PART, params, part.data).await?;
        match reply.code {
            0 => Ok(()),
            _ => Err(reply.unexpected_code()),
        }
    }

    async fn finish_call(&self, session: &Session) -> Result<Media, VodError> {
        let params = vec![("fileSha".to_string(), session.sha1_hex.clone())];
        let reply = self.call(FINISH, params, Bytes::new()).await?;
        reply.check_sha(&session.sha1_hex)?;
        match reply.code {
            0 => reply.media(),
            _ => Err(reply.unexpected_code()),
        }
    }
}

impl UploadFlow for V4Client {
    fn name(&self) -> &'static str {
        "v4"
    }

    fn action(&self, step: Step) -> &'static str {
        match step {
            Step::Start => INIT,
            Step::Part => PART,
            Step::Finish => FINISH,
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

/// An error and its causes on one line (reqwest's top-level message alone
/// says only "error sending request").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
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
    fn endpoint_defaults_to_v3_path_and_keeps_an_explicit_one() {
        let c = Credentials::new("a", "b");
        let cl = V4Client::new(V4Config::new("http://127.0.0.1:8700"), c.clone()).unwrap();
        assert_eq!(cl.endpoint().as_str(), "http://127.0.0.1:8700/v3/index.php");
        assert_eq!(cl.sign_host, "127.0.0.1:8700");
        let cl = V4Client::new(
            V4Config::new("https://vod2.qcloud.com/v2/index.php"),
            c.clone(),
        )
        .unwrap();
        assert_eq!(cl.endpoint().path(), "/v2/index.php");
        assert_eq!(cl.sign_host, "vod2.qcloud.com");
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
        let q = cl.signed_query("InitUpload", vec![("fileName".into(), "a b+c".into())]);
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
        let q2 = cl.signed_query("InitUpload", vec![]);
        let nonce = |q: &str| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "Nonce")
                .map(|(_, v)| v.into_owned())
        };
        assert_ne!(nonce(&q), nonce(&q2));
    }
}
