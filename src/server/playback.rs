//! Playback: every committed media (and cover) at its URL path, with
//! Content-Type from its type, Content-Length, a strong ETag (the MD5, or
//! the file id and size when none is recorded),
//! Accept-Ranges and single byte ranges (`a-b`, `a-`, `-n`); 416 with
//! `Content-Range: bytes */size` when unsatisfiable. A multi-range request
//! is answered whole (200), which RFC 9110 allows. HEAD is served too.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;

use super::app::App;

/// The MIME type of a media type (extension).
pub fn content_type(file_type: &str) -> &'static str {
    match file_type {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "flv" => "video/x-flv",
        "avi" => "video/x-msvideo",
        "wmv" => "video/x-ms-wmv",
        "ts" => "video/mp2t",
        "m3u8" => "application/vnd.apple.mpegurl",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => "application/octet-stream",
    }
}

/// The outcome of a `Range` header against a size.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeOutcome {
    Full,
    /// Inclusive first and last byte.
    Part(u64, u64),
    Unsatisfiable,
}

/// Parses a `Range` header value for a resource of `size` bytes.
pub fn parse_range(value: Option<&str>, size: u64) -> RangeOutcome {
    let Some(v) = value else {
        return RangeOutcome::Full;
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeOutcome::Full;
    };
    if spec.contains(',') {
        return RangeOutcome::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeOutcome::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return RangeOutcome::Full;
        };
        if n == 0 || size == 0 {
            return RangeOutcome::Unsatisfiable;
        }
        return RangeOutcome::Part(size.saturating_sub(n), size - 1);
    }
    let Ok(first) = a.parse::<u64>() else {
        return RangeOutcome::Full;
    };
    let last = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(l) if l >= first => l.min(size.saturating_sub(1)),
            _ => return RangeOutcome::Full,
        }
    };
    if first >= size {
        return RangeOutcome::Unsatisfiable;
    }
    RangeOutcome::Part(first, last)
}

/// A media's strong ETag: its MD5, or — for a media made of a multipart
/// object, which records none (no data pass computes it) — its file id and
/// size (a file id's bytes never change).
fn etag(media: &super::store::MediaRow) -> String {
    if media.md5.is_empty() {
        format!("\"{}-{}\"", media.file_id, media.size)
    } else {
        format!("\"{}\"", media.md5)
    }
}

fn status(code: StatusCode) -> Response {
    Response::builder()
        .status(code)
        .body(Body::empty())
        .unwrap_or_default()
}

/// Serves `path` if it is a media URL path; `None` otherwise.
pub async fn serve(
    app: &Arc<App>,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
) -> Option<Response> {
    let p = path.to_string();
    let media = app.db(move |s| s.media_by_url_path(&p)).await.ok()??;
    if method != Method::GET && method != Method::HEAD {
        return Some(status(StatusCode::METHOD_NOT_ALLOWED));
    }
    let etag = etag(&media);
    let base = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &etag)
        .header(header::CONTENT_TYPE, content_type(&media.file_type));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Some(
            base.status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .unwrap_or_default(),
        );
    }
    // If-Range naming another representation (an ETag not ours, or a
    // date: we keep no Last-Modified): the whole media, RFC 9110 §13.1.5.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| v.trim() == etag));
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_ok);
    let (code, first, last) = match parse_range(range, media.size) {
        RangeOutcome::Full => (StatusCode::OK, 0, media.size.saturating_sub(1)),
        RangeOutcome::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b),
        RangeOutcome::Unsatisfiable => {
            return Some(
                base.status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{}", media.size))
                    .body(Body::empty())
                    .unwrap_or_default(),
            );
        }
    };
    let len = if media.size == 0 { 0 } else { last - first + 1 };
    let mut b = base.status(code).header(header::CONTENT_LENGTH, len);
    if code == StatusCode::PARTIAL_CONTENT {
        b = b.header(
            header::CONTENT_RANGE,
            format!("bytes {first}-{last}/{}", media.size),
        );
    }
    if method == Method::HEAD {
        return Some(b.body(Body::empty()).unwrap_or_default());
    }
    match super::span::body(app.store.media_path(&media.file_id), first, len).await {
        Ok(body) => Some(b.body(body).unwrap_or_default()),
        Err(e) => {
            tracing::error!(file_id = media.file_id, error = %e, "media file missing");
            Some(status(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeOutcome::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(parse_range(Some("bytes=0-0"), 10), Part(0, 0));
        assert_eq!(parse_range(Some("bytes=3-5"), 10), Part(3, 5));
        assert_eq!(parse_range(Some("bytes=3-"), 10), Part(3, 9));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Part(5, 9));
        assert_eq!(parse_range(Some("bytes=-4"), 10), Part(6, 9));
        assert_eq!(parse_range(Some("bytes=-40"), 10), Part(0, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-3"), 10), Full);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
    }

    proptest::proptest! {
        #[test]
        fn range_parser_is_in_bounds(v in "\\PC{0,30}", n in 0u64..5000, size in 0u64..10_000) {
            for h in [v.clone(), format!("bytes={v}"), format!("bytes={n}-"), format!("bytes=-{n}"), format!("bytes={n}-{v}")] {
                if let RangeOutcome::Part(a, b) = parse_range(Some(&h), size) {
                    proptest::prop_assert!(a <= b && b < size);
                }
            }
        }
    }
}
