//! The COS object client both object-storage flows share (apply with the
//! account's key, api3 with a session's temporary credential): one signed
//! XML-API request, and where it connects.
//!
//! Design decisions:
//! - Requests are virtual-hosted: the Host header is always the bucket's
//!   host (`<bucket>.cos.<region>.myqcloud.com`) and is signed; the path is
//!   the object key.
//! - A temporary credential's token goes in `x-cos-security-token`, signed
//!   (as cos-python-sdk-v5 does; protocol-api3.md §3).
//! - Where requests connect ([`route`]): an explicit `--cos-endpoint`;
//!   else, when the API endpoint is the cloud's, the bucket's host over
//!   https; else (a `vodfs serve`, a test double) the API endpoint's own
//!   address, so bucket names are never looked up in DNS.
//! - Errors carry the HTTP status and the XML body's Code and Message,
//!   never the URL (a presigned query would carry keys) nor the token.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::Method;
use url::Url;

use super::error::{VodError, VodErrorKind};
use super::flow::Session;
use super::http;
use super::rules::cos_xml::{self, CompleteMultipartUpload, CompletePart};
use super::sign;
use super::stall;
use crate::report::chain as error_chain;

/// The largest COS answer read (part lists of 10,000 parts fit).
const MAX_RESPONSE: usize = 4 << 20;

/// The key a COS request is signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct CosKey<'a> {
    pub secret_id: &'a str,
    pub secret_key: &'a str,
    /// The temporary credential's token (`x-cos-security-token`).
    pub token: Option<&'a str>,
}

impl fmt::Debug for CosKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosKey")
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

/// One object: the bucket's host and the key path (with its leading `/`).
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    pub host: &'a str,
    pub key: &'a str,
}

/// What a successful COS request answered.
#[derive(Debug, Clone)]
pub struct CosReply {
    /// The ETag header, unquoted and lower-cased.
    pub etag: Option<String>,
    pub body: String,
}

/// Hosts of the cloud: an endpoint on one of them reaches COS by the
/// bucket's own host name.
pub fn is_cloud_host(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    [
        "tencentcloudapi.com",
        "qcloud.com",
        "myqcloud.com",
        "tencentcos.cn",
    ]
    .iter()
    .any(|d| h == *d || h.ends_with(&format!(".{d}")))
}

/// Where COS requests connect: `cos_endpoint` when given; `None` (the
/// bucket's host over https) when `api_endpoint` is the cloud's; else the
/// API endpoint's scheme, host and port.
pub fn route(api_endpoint: &str, cos_endpoint: Option<&str>) -> Result<Option<Url>, String> {
    let base = |e: &str, what: &str| -> Result<Url, String> {
        let mut u = Url::parse(e).map_err(|err| format!("{what} {e:?}: {err}"))?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            return Err(format!("{what} {e:?}: not an http(s) URL with a host"));
        }
        u.set_path("/");
        u.set_query(None);
        u.set_fragment(None);
        Ok(u)
    };
    if let Some(c) = cos_endpoint {
        return base(c, "cos endpoint").map(Some);
    }
    let api = base(api_endpoint, "endpoint")?;
    if is_cloud_host(api.host_str().unwrap_or_default()) {
        Ok(None)
    } else {
        Ok(Some(api))
    }
}

/// The COS client of one flow.
#[derive(Debug, Clone)]
pub struct CosClient {
    http: reqwest::Client,
    /// A request that moves no byte this long is abandoned.
    stall: Duration,
    /// Where requests connect; `None`: the bucket's host over https.
    base: Option<Url>,
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A session's temporary COS credential (API 3.0's TempCertificate,
/// family D's tempCertificate), as kept in the session token. `Debug`
/// shows only its expiry.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TempCred {
    pub secret_id: String,
    pub secret_key: String,
    pub token: String,
    /// Unix seconds.
    pub expired_time: u64,
    /// When it was received (Unix seconds): its lifetime sets the margin.
    pub issued: u64,
}

impl fmt::Debug for TempCred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempCred")
            .field("expired_time", &self.expired_time)
            .finish_non_exhaustive()
    }
}

impl TempCred {
    /// How long before expiry the credential is no longer used: a tenth
    /// of its lifetime, between 1 s and 60 s.
    pub fn margin(&self) -> u64 {
        (self.expired_time.saturating_sub(self.issued) / 10).clamp(1, 60)
    }

    /// Whether a request may still start with it at `now`.
    pub fn usable(&self, now: u64) -> bool {
        now + self.margin() < self.expired_time
    }
}

/// COS refused the session's credential because it ran out: by the
/// service's word (`ExpiredToken`, whatever the local clock says), or any
/// 403 once the local clock says it has.
pub fn credential_ran_out(e: &VodError, c: &TempCred) -> bool {
    match &e.kind {
        VodErrorKind::Rest {
            status: 403, code, ..
        } => code == "ExpiredToken" || !c.usable(now()),
        _ => false,
    }
}

/// `r`, with COS's refusal of `cred` once it has run out turned into
/// [`VodErrorKind::SessionExpired`] (the flow then renews the credential
/// or starts the file over; a plain 403 would fail it).
pub fn expired_as_session(
    r: Result<CosReply, VodError>,
    action: &'static str,
    cred: &TempCred,
) -> Result<CosReply, VodError> {
    match r {
        Err(e) if credential_ran_out(&e, cred) => Err(VodError::new(
            action,
            VodErrorKind::SessionExpired(format!(
                "object storage refused the session's credential, which expires at {}: {}",
                cred.expired_time, e.kind
            )),
        )),
        r => r,
    }
}

/// COS refused a request because the multipart upload is gone (completed).
pub fn is_no_such_upload(e: &VodError) -> bool {
    matches!(&e.kind, VodErrorKind::Rest { status: 404, code, .. } if code == "NoSuchUpload")
}

impl CosClient {
    pub fn new(base: Option<Url>, timeouts: stall::Timeouts) -> Result<Self, String> {
        Ok(CosClient {
            http: http::client(timeouts.connect)?,
            stall: timeouts.stall,
            base,
        })
    }

    /// Where requests connect (`None`: the bucket's host over https).
    pub fn base(&self) -> Option<&Url> {
        self.base.as_ref()
    }

    /// One signed request on `object`; 2xx answers its ETag and body, any
    /// other status a [`VodErrorKind::Rest`] error with the XML Code.
    pub async fn request(
        &self,
        action: &'static str,
        method: Method,
        object: Object<'_>,
        params: &[(String, String)],
        body: Bytes,
        key: &CosKey<'_>,
    ) -> Result<CosReply, VodError> {
        let (start, end) = (now().saturating_sub(60), now() + 3600);
        let mut headers = vec![("host".to_string(), object.host.to_string())];
        if let Some(t) = key.token {
            headers.push(("x-cos-security-token".to_string(), t.to_string()));
        }
        let auth = sign::cos_authorization(
            key.secret_id,
            key.secret_key,
            (start, end),
            method.as_str(),
            object.key,
            params,
            &headers,
        );
        let mut url = match &self.base {
            Some(b) => b.clone(),
            None => Url::parse(&format!("https://{}", object.host))
                .map_err(|e| VodError::new(action, VodErrorKind::Request(e.to_string())))?,
        };
        url.set_path(object.key);
        let q = params
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    sign::cos_encode(k)
                } else {
                    format!("{}={}", sign::cos_encode(k), sign::cos_encode(v))
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        url.set_query((!q.is_empty()).then_some(q.as_str()));
        let transport = |e: reqwest::Error| {
            VodError::new(
                action,
                VodErrorKind::Transport {
                    timeout: e.is_timeout(),
                    message: error_chain(&e.without_url()),
                },
            )
        };
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::HOST, object.host)
            .header(reqwest::header::AUTHORIZATION, auth);
        if let Some(t) = key.token {
            request = request.header("x-cos-security-token", t);
        }
        let progress = stall::Progress::default();
        let request = request
            .header(reqwest::header::CONTENT_LENGTH, body.len())
            .body(progress.body(body));
        let exchange = async {
            let mut resp = request.send().await.map_err(transport)?;
            progress.touch();
            let status = resp.status().as_u16();
            let etag = resp
                .headers()
                .get(reqwest::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().trim_matches('"').to_ascii_lowercase());
            let mut buf = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(transport)? {
                progress.touch();
                if buf.len() + chunk.len() > MAX_RESPONSE {
                    return Err(VodError::bad_response(action, "response body over 4 MiB"));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok((status, etag, buf))
        };
        let (status, etag, buf) = stall::guard(&progress, self.stall, exchange)
            .await
            .map_err(|s| stall::error(action, s))??;
        let text = String::from_utf8_lossy(&buf).into_owned();
        if !(200..300).contains(&status) {
            let body = cos_xml::Error::parse(&text);
            return Err(VodError::new(
                action,
                VodErrorKind::Rest {
                    status,
                    code: body.code,
                    message: body.message,
                },
            ));
        }
        Ok(CosReply { etag, body: text })
    }
}

/// Parts a ListParts page holds at most (COS's limit).
const LIST_PAGE: usize = 1000;

/// Every part COS lists for a multipart upload, paged by
/// `part-number-marker`; `request` makes one ListParts request (the
/// caller's, so it signs and maps errors its own way) for the params given.
pub async fn list_all_parts<F, Fut>(
    action: &'static str,
    upload_id: &str,
    max_parts: u64,
    mut request: F,
) -> Result<Vec<cos_xml::ListedPart>, VodError>
where
    F: FnMut(Vec<(String, String)>) -> Fut,
    Fut: std::future::Future<Output = Result<CosReply, VodError>>,
{
    let mut all: Vec<cos_xml::ListedPart> = Vec::new();
    loop {
        let marker = all.last().map_or(0, |p| p.number);
        let params = vec![
            ("uploadId".to_string(), upload_id.to_string()),
            ("max-parts".to_string(), LIST_PAGE.to_string()),
            ("part-number-marker".to_string(), marker.to_string()),
        ];
        let r = request(params).await?;
        let page = cos_xml::ListPartsResult::parse(&r.body)
            .map(|l| l.parts)
            .ok_or_else(|| VodError::bad_response(action, "unreadable part list"))?;
        let full = page.len() >= LIST_PAGE;
        let before = all.len();
        all.extend(page.into_iter().filter(|p| p.number > marker));
        if !full || all.len() == before || all.len() as u64 >= max_parts {
            return Ok(all);
        }
    }
}

/// Lists, checks and completes a session's multipart upload. One already
/// complete is left as it is: an earlier attempt completed it and lost the
/// answer, or the service took it whole (COS then answers NoSuchUpload, to
/// the listing or to the completion); the commit that follows says whether
/// the object is there. `list` lists the parts COS holds and `post` sends
/// the CompleteMultipartUpload body: the flow's own requests, signed and
/// mapped its way (api3, apply and family D share this step).
pub async fn complete_multipart<L, LF, P, PF, T>(
    action: &'static str,
    session: &Session,
    list: L,
    post: P,
) -> Result<(), VodError>
where
    L: FnOnce() -> LF,
    LF: std::future::Future<Output = Result<Vec<cos_xml::ListedPart>, VodError>>,
    P: FnOnce(Bytes) -> PF,
    PF: std::future::Future<Output = Result<T, VodError>>,
{
    let parts = match list().await {
        Ok(p) => p,
        Err(e) if is_no_such_upload(&e) => {
            tracing::info!("{action}: the multipart upload is complete already");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let xml = completion(&parts, session, action)?.to_xml();
    match post(Bytes::from(xml)).await {
        Err(e) if is_no_such_upload(&e) => Ok(()),
        r => r.map(|_| ()),
    }
}

/// The CompleteMultipartUpload body for a session, from the parts COS
/// lists: every part of the file, each of its expected size (apply and
/// api3 alike; `action` names the step in errors).
pub fn completion(
    listed: &[cos_xml::ListedPart],
    session: &Session,
    action: &'static str,
) -> Result<CompleteMultipartUpload, VodError> {
    let layout = session.layout();
    let count = layout.count(session.file_size);
    // By number, the first listing of each (a file of 10,000 parts is
    // matched in one pass, not 10,000 scans of the list).
    let mut by_number = std::collections::HashMap::with_capacity(listed.len());
    for p in listed {
        by_number.entry(u64::from(p.number)).or_insert(p);
    }
    let mut parts = Vec::new();
    for n in 1..=count {
        let (_, expected) = layout.range(session.file_size, n - 1);
        let Some(p) = by_number.get(&n) else {
            return Err(VodError::bad_response(action, format!("part {n} missing")));
        };
        if p.size != expected {
            return Err(VodError::bad_response(
                action,
                format!("part {n} has {} bytes, expected {expected}", p.size),
            ));
        }
        parts.push(CompletePart {
            number: p.number,
            etag: p.etag.clone(),
        });
    }
    Ok(CompleteMultipartUpload { parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cos_goes_to_the_bucket_only_from_the_cloud() {
        assert_eq!(
            route("https://vod.tencentcloudapi.com", None).unwrap(),
            None
        );
        assert_eq!(
            route("https://vod.api.qcloud.com/v2/index.php", None).unwrap(),
            None
        );
        let local = route("http://127.0.0.1:8700", None).unwrap().unwrap();
        assert_eq!(local.as_str(), "http://127.0.0.1:8700/");
        let local = route("http://127.0.0.1:8700/v2/index.php", None)
            .unwrap()
            .unwrap();
        assert_eq!(local.as_str(), "http://127.0.0.1:8700/");
        let over = route("https://vod.tencentcloudapi.com", Some("http://[::1]:9"))
            .unwrap()
            .unwrap();
        assert_eq!(over.as_str(), "http://[::1]:9/");
        assert!(route("ftp://x", None).is_err());
        assert!(route("https://vod.tencentcloudapi.com", Some("nope")).is_err());
        assert!(!is_cloud_host("evilqcloud.com"));
        assert!(is_cloud_host("VOD.TencentCloudAPI.com"));
    }

    fn listed(number: u32, size: u64) -> cos_xml::ListedPart {
        cos_xml::ListedPart {
            number,
            etag: format!("{number:032x}"),
            size,
        }
    }

    #[test]
    fn completion_names_every_part_of_its_size() {
        let session = Session {
            flow: "apply".into(),
            sha1_hex: String::new(),
            file_size: (1 << 20) + 5,
            part_size: 1 << 20,
            token: None,
            growth: None,
        };
        let c = completion(&[listed(2, 5), listed(1, 1 << 20)], &session, "X").unwrap();
        let numbers: Vec<u32> = c.parts.iter().map(|p| p.number).collect();
        assert_eq!(numbers, vec![1, 2]);
        let e = completion(&[listed(1, 1 << 20)], &session, "X").unwrap_err();
        assert!(e.to_string().contains("part 2 missing"), "{e}");
        let e = completion(&[listed(1, 1 << 20), listed(2, 4)], &session, "X").unwrap_err();
        assert!(
            e.to_string().contains("part 2 has 4 bytes, expected 5"),
            "{e}"
        );
    }

    #[test]
    fn a_grown_session_completes_with_its_grown_sizes_and_old_tokens_load_uniform() {
        let growth = crate::vod::rules::layout::Growth::new(2, 1, 3).unwrap();
        // Parts: 1, 1, 2, 4 MiB, then the last 3 bytes (part 5 of 8 MiB).
        let session = Session {
            flow: "api3".into(),
            sha1_hex: "a".repeat(40),
            file_size: (8 << 20) + 3,
            part_size: 1 << 20,
            token: None,
            growth: Some(growth),
        };
        let sizes = [1 << 20, 1 << 20, 2 << 20, 4 << 20, 3];
        let listed_all: Vec<_> = (1..=5).map(|n| listed(n, sizes[n as usize - 1])).collect();
        assert_eq!(
            completion(&listed_all, &session, "X").unwrap().parts.len(),
            5
        );
        let mut uniform = listed_all.clone();
        uniform[2] = listed(3, 1 << 20);
        let e = completion(&uniform, &session, "X").unwrap_err();
        assert!(e.to_string().contains("part 3 has 1048576 bytes"), "{e}");
        // The saved form round-trips; a token saved before growth existed
        // loads as uniform parts.
        let json = serde_json::to_string(&session).unwrap();
        assert_eq!(serde_json::from_str::<Session>(&json).unwrap(), session);
        let old = r#"{"flow":"api3","sha1_hex":"","file_size":0,"part_size":1048576,"token":null}"#;
        let old: Session = serde_json::from_str(old).unwrap();
        assert_eq!(old.growth, None);
        assert_eq!(
            old.layout(),
            crate::vod::rules::layout::Layout::Uniform { part: 1 << 20 }
        );
    }
}
