//! The HTTP side shared by the vod2-style flows (v4, UGC): one pooled
//! keep-alive client, one endpoint URL, POST with the parameters in the
//! query string and the raw part bytes (or nothing) as the body, and the
//! answer read (bounded) and handed to [`reply`]. Requests are bounded by
//! stalls, not by their length ([`super::stall`]); [`exchange`] is that
//! bounded, stall-guarded request for the JSON flows (API 3.0, family D) too.
//!
//! Transport errors are reported without the request URL, which carries
//! the SecretId and the signature.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use url::Url;

use super::credentials::Credentials;
use super::error::{VodError, VodErrorKind};
use super::reply::{self, Reply};
use super::sign;
use super::stall::{self, Progress, Timeouts};
use crate::report::chain as error_chain;

/// The largest answer read; anything longer is a bad response.
const MAX_RESPONSE: usize = 1 << 20;

/// Connection settings of a vod2-style client.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `http://host:port` (the index path `/v3/index.php` is added) or a
    /// full URL naming the path.
    pub endpoint: String,
    /// Stall and connect limits (no whole-request limit: a slow part
    /// that keeps moving goes through).
    pub timeouts: Timeouts,
}

impl HttpConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        HttpConfig {
            endpoint: endpoint.into(),
            timeouts: Timeouts::default(),
        }
    }
}

/// A vod2 endpoint and the client that talks to it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    http: reqwest::Client,
    stall: Duration,
    /// scheme://host[:port]/path, no query.
    base: Url,
    /// `host[:port]` as sent in the Host header, for strings to sign.
    host: String,
}

impl Endpoint {
    /// Fails on an endpoint that is not an http(s) URL with a host.
    pub fn new(config: &HttpConfig) -> Result<Self, String> {
        let ep = &config.endpoint;
        let mut base = Url::parse(ep).map_err(|e| format!("endpoint {ep:?}: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!("endpoint {ep:?}: scheme must be http or https"));
        }
        let host = base
            .host_str()
            .ok_or_else(|| format!("endpoint {ep:?} has no host"))?
            .to_string();
        let host = match base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        if base.path().is_empty() || base.path() == "/" {
            base.set_path("/v3/index.php");
        }
        base.set_query(None);
        base.set_fragment(None);
        let http = client(config.timeouts.connect)?;
        Ok(Endpoint {
            http,
            stall: config.timeouts.stall,
            base,
            host,
        })
    }

    pub fn url(&self) -> &Url {
        &self.base
    }

    /// The Host header value, as the string to sign needs it.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn path(&self) -> &str {
        self.base.path()
    }

    /// POSTs `body` with the encoded `query`; returns the checked envelope.
    pub async fn post(
        &self,
        action: &'static str,
        query: &str,
        body: Bytes,
    ) -> Result<Reply, VodError> {
        self.call(reqwest::Method::POST, action, query, body).await
    }

    /// GETs with the encoded `query`; returns the checked envelope.
    pub async fn get(&self, action: &'static str, query: &str) -> Result<Reply, VodError> {
        self.call(reqwest::Method::GET, action, query, Bytes::new())
            .await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        action: &'static str,
        query: &str,
        body: Bytes,
    ) -> Result<Reply, VodError> {
        let mut url = self.base.clone();
        url.set_query(Some(query));
        let progress = Progress::default();
        let mut request = self.http.request(method.clone(), url);
        if method == reqwest::Method::POST {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::CONTENT_LENGTH, body.len())
                .body(progress.body(body));
        }
        let (status, buf) = exchange(action, request, &progress, self.stall).await?;
        reply::reply(action, status, &buf)
    }
}

/// Sends `request` (its body, if any, wrapped by `progress`) and reads the
/// answer, at most 1 MiB: its status and body. Abandoned when no byte
/// moves for `stall`; transport errors never name the URL (it may carry a
/// signature).
pub async fn exchange(
    action: &'static str,
    request: reqwest::RequestBuilder,
    progress: &Progress,
    stall: Duration,
) -> Result<(u16, Vec<u8>), VodError> {
    let transport = |e: reqwest::Error| {
        VodError::new(
            action,
            VodErrorKind::Transport {
                timeout: e.is_timeout(),
                message: error_chain(&e.without_url()),
            },
        )
    };
    let exchange = async {
        let mut resp = request.send().await.map_err(transport)?;
        progress.touch();
        let status = resp.status().as_u16();
        let mut buf = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            progress.touch();
            if buf.len() + chunk.len() > MAX_RESPONSE {
                return Err(VodError::bad_response(action, "response body over 1 MiB"));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok((status, buf))
    };
    stall::guard(progress, stall, exchange)
        .await
        .map_err(|s| stall::error(action, s))?
}

/// The wire query of a v2-signed call (protocol.md §1): the caller's
/// parameters plus the common ones (fresh Nonce and Timestamp,
/// `SignatureMethod=HmacSHA256`), signed over `method host path`.
pub fn v2_query(
    creds: &Credentials,
    region: &str,
    method: &str,
    host: &str,
    path: &str,
    action: &str,
    mut params: Vec<(String, String)>,
) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let nonce: u32 = rand::random_range(1..=u32::MAX);
    params.extend([
        ("Action".to_string(), action.to_string()),
        ("Region".to_string(), region.to_string()),
        ("Timestamp".to_string(), now.to_string()),
        ("Nonce".to_string(), nonce.to_string()),
        ("SecretId".to_string(), creds.secret_id.clone()),
        ("SignatureMethod".to_string(), "HmacSHA256".to_string()),
    ]);
    let signature = sign::sign_v2(creds.secret_key(), method, host, path, &params);
    params.push(("Signature".to_string(), signature));
    sign::encode_query(&params)
}

/// A pooled keep-alive client (one per flow) with a `connect` limit and
/// no whole-request limit: its callers bound requests by stalls
/// ([`super::stall::guard`]).
pub fn client(connect: Duration) -> Result<reqwest::Client, String> {
    super::tls::client_builder()
        .connect_timeout(connect)
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_keepalive(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("http client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_defaults_to_v3_path_and_keeps_an_explicit_one() {
        let e = Endpoint::new(&HttpConfig::new("http://127.0.0.1:8700")).unwrap();
        assert_eq!(e.url().as_str(), "http://127.0.0.1:8700/v3/index.php");
        assert_eq!(e.host(), "127.0.0.1:8700");
        let e =
            Endpoint::new(&HttpConfig::new("https://vod2.qcloud.com/v2/index.php?x=1")).unwrap();
        assert_eq!(e.url().as_str(), "https://vod2.qcloud.com/v2/index.php");
        assert_eq!(e.host(), "vod2.qcloud.com");
        assert!(Endpoint::new(&HttpConfig::new("ftp://x")).is_err());
        assert!(Endpoint::new(&HttpConfig::new("not a url")).is_err());
    }
}
