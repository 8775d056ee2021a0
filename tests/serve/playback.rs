//! Playback: ranges, headers, and a real MP4 read by ffprobe from its URL.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let content = random_bytes(10_000, 8);
    let fin = s.upload_a("p", "mp4", &content, 524_288).await;
    let url = fin["url"].as_str().unwrap();
    let get = |range: Option<&'static str>| {
        let mut r = s.http.get(url);
        if let Some(v) = range {
            r = r.header("Range", v);
        }
        r.send()
    };
    let full = get(None).await.unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-type"], "video/mp4");
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    assert_eq!(full.headers()["content-length"], "10000");
    let etag = full.headers()["etag"].to_str().unwrap().to_string();
    // A strong ETag that names the media and its size (a fileId's bytes
    // never change; the service keeps no whole-file MD5 of a v4 media).
    let file_id = fin["fileId"].as_str().unwrap();
    assert_eq!(etag, format!("\"{file_id}-10000\""));

    let r = get(Some("bytes=0-0")).await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 0-0/10000");
    assert_eq!(r.bytes().await.unwrap().to_vec(), content[..1].to_vec());

    let r = get(Some("bytes=4000-4999")).await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-length"], "1000");
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        content[4000..5000].to_vec()
    );

    let r = get(Some("bytes=-100")).await.unwrap();
    assert_eq!(r.headers()["content-range"], "bytes 9900-9999/10000");
    assert_eq!(r.bytes().await.unwrap().to_vec(), content[9900..].to_vec());

    let r = get(Some("bytes=9990-")).await.unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), content[9990..].to_vec());

    let r = get(Some("bytes=10000-")).await.unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["content-range"], "bytes */10000");

    let r = s
        .http
        .get(url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = s.http.head(url).send().await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["content-length"].to_str().unwrap()
        ),
        (200, "10000")
    );
    s.stop().await;
}

fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffprobe_reads_an_uploaded_mp4() {
    if !have("ffmpeg") || !have("ffprobe") {
        eprintln!("ffmpeg/ffprobe not installed: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mp4 = make_mp4(dir.path(), "x.mp4", 2);
    let content = std::fs::read(&mp4).unwrap();
    let data_dir = dir.path().join("data");
    let s = TestServer::start(&data_dir).await;
    let fin = s.upload_a("x", "mp4", &content, 524_288).await;
    let url = fin["url"].as_str().unwrap().to_string();
    let d = tokio::task::spawn_blocking(move || ffprobe_duration(&url))
        .await
        .unwrap();
    assert!(d > 1.5 && d < 2.5, "duration {d}");
    s.stop().await;
}
