//! The playback range reader against HTTP servers that honour Range, ignore
//! it, or misanswer it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::HeaderMap;
use vodfs::vod::playback::{PlaybackError, PlaybackReader};

use super::scripted::{Scripted, Seen};

fn media() -> Bytes {
    Bytes::from(
        (0..100_000u32)
            .map(|i| (i % 253) as u8)
            .collect::<Vec<u8>>(),
    )
}

/// Serves `media()`; `mode` 0 honours Range, 1 ignores it, 2 answers the
/// wrong range.
async fn server(mode: u8) -> Scripted {
    Scripted::start(Arc::new(move |s: Seen| {
        Box::pin(async move {
            let m = media();
            let range = s
                .headers
                .get("range")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes="))
                .and_then(|v| v.split_once('-'))
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
            let mut h = HeaderMap::new();
            match (mode, range) {
                (0 | 2, Some((a, b))) => {
                    let len = m.len() as u64;
                    if a >= len {
                        h.insert("content-range", format!("bytes */{len}").parse().unwrap());
                        return (416, h, Bytes::new());
                    }
                    let b = b.min(len - 1);
                    let shown = if mode == 2 { a + 1 } else { a };
                    h.insert(
                        "content-range",
                        format!("bytes {shown}-{b}/{len}").parse().unwrap(),
                    );
                    (206, h, m.slice(a as usize..=b as usize))
                }
                _ => (200, h, m),
            }
        })
    }))
    .await
}

#[tokio::test]
async fn ranges_are_read_exactly_and_short_only_at_the_end() {
    let m = media();
    for mode in [0, 1] {
        let srv = server(mode).await;
        let url = format!("{}/vod/1/f0.mp4", srv.url());
        let r = PlaybackReader::default();
        for (off, len) in [(0u64, 10u32), (4096, 65536), (99_990, 100), (0, 100_000)] {
            let got = r.read(&url, off, len).await.unwrap();
            let end = (off as usize + len as usize).min(m.len());
            assert_eq!(got, m.slice(off as usize..end), "mode {mode} {off}+{len}");
        }
        assert!(r.read(&url, 100_000, 10).await.unwrap().is_empty());
        assert!(r.read(&url, 5, 0).await.unwrap().is_empty());
        if mode == 0 {
            let s = srv.seen();
            assert_eq!(s[0].headers.get("range").unwrap(), "bytes=0-9");
        }
    }
}

#[tokio::test]
async fn a_wrong_range_or_status_is_an_error() {
    let srv = server(2).await;
    let r = PlaybackReader::default();
    let e = r
        .read(&format!("{}/x.mp4", srv.url()), 10, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(e, PlaybackError::WrongRange { offset: 10, .. }),
        "{e}"
    );
    let srv = Scripted::start(Arc::new(|_s: Seen| {
        Box::pin(async { (404, HeaderMap::new(), Bytes::from("no")) })
    }))
    .await;
    let e = r
        .read(&format!("{}/x.mp4", srv.url()), 0, 10)
        .await
        .unwrap_err();
    assert_eq!(e, PlaybackError::Status(404));
}
