//! Reading byte ranges of a committed media from its playback URL, for data
//! no longer in the cache.
//!
//! Design: one HTTP `Range: bytes=a-b` GET per read, on a pooled client.
//! A 206 must start at the requested offset (checked against
//! `Content-Range`); a 200 means the server ignored the range, so the body is
//! streamed and the leading bytes skipped (bounded by the request, never
//! buffered whole); a 416 means the offset is at or past the end: an empty
//! read (EOF). The answer is never longer than asked for; it is shorter only
//! at the end of the media.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, RANGE};

use crate::report::chain as error_chain;

/// Why a range could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaybackError {
    #[error("playback url is not an http(s) URL")]
    BadUrl,
    #[error("playback read failed: {0}")]
    Transport(String),
    #[error("playback read: http status {0}")]
    Status(u16),
    #[error("playback read: server answered range {got:?} for offset {offset}")]
    WrongRange { offset: u64, got: String },
}

/// A range reader over playback URLs.
#[derive(Debug, Clone)]
pub struct PlaybackReader {
    http: reqwest::Client,
}

impl Default for PlaybackReader {
    fn default() -> Self {
        Self::new(Duration::from_secs(60))
    }
}

impl PlaybackReader {
    pub fn new(timeout: Duration) -> Self {
        let http = super::tls::client_builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        PlaybackReader { http }
    }

    /// Reads up to `len` bytes at `offset` of the media at `url`.
    pub async fn read(&self, url: &str, offset: u64, len: u32) -> Result<Bytes, PlaybackError> {
        let parsed = url::Url::parse(url).map_err(|_| PlaybackError::BadUrl)?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(PlaybackError::BadUrl);
        }
        if len == 0 {
            return Ok(Bytes::new());
        }
        let last = offset.saturating_add(u64::from(len) - 1);
        let transport = |e: reqwest::Error| PlaybackError::Transport(error_chain(&e.without_url()));
        let mut resp = self
            .http
            .get(parsed)
            .header(RANGE, format!("bytes={offset}-{last}"))
            .send()
            .await
            .map_err(transport)?;
        let mut skip = match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let got = resp
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                if range_start(&got) != Some(offset) {
                    return Err(PlaybackError::WrongRange { offset, got });
                }
                0
            }
            StatusCode::OK => offset,
            StatusCode::RANGE_NOT_SATISFIABLE => return Ok(Bytes::new()),
            s => return Err(PlaybackError::Status(s.as_u16())),
        };
        let want = len as usize;
        let mut out = BytesMut::with_capacity(want.min(8 << 20));
        while out.len() < want {
            let Some(mut chunk) = resp.chunk().await.map_err(transport)? else {
                break;
            };
            if skip > 0 {
                let n = skip.min(chunk.len() as u64) as usize;
                let _ = chunk.split_to(n);
                skip -= n as u64;
            }
            let room = want - out.len();
            out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        Ok(out.freeze())
    }
}

/// The first byte of a `Content-Range: bytes a-b/total` header.
fn range_start(header: &str) -> Option<u64> {
    let rest = header.trim().strip_prefix("bytes")?.trim_start();
    let (first, _) = rest.split_once('-')?;
    first.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        assert_eq!(range_start("bytes 100-199/1000"), Some(100));
        assert_eq!(range_start("bytes 0-0/1"), Some(0));
        assert_eq!(range_start("bytes */1000"), None);
        assert_eq!(range_start("garbage"), None);
        assert_eq!(range_start(""), None);
    }

    #[tokio::test]
    async fn bad_urls_fail_without_a_request() {
        let r = PlaybackReader::default();
        assert_eq!(r.read("nope", 0, 1).await, Err(PlaybackError::BadUrl));
        assert_eq!(
            r.read("file:///etc/passwd", 0, 1).await,
            Err(PlaybackError::BadUrl)
        );
    }
}
