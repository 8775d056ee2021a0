//! Family A FinishUpload hashes an upload's data before the commit lock
//! (`src/server/v4.rs::hash_ahead`): parts sent out of order (so no
//! running hash) still finish to a media with exactly the bytes, the
//! SHA-1 and the MD5 of the source, and finishes of the same upload at
//! once give one media and the same fileId.

use crate::common::*;

const PART: usize = 524_288;

async fn init(s: &TestServer, content: &[u8], name: &str) -> String {
    let sha = sha1_hex(content);
    let size = content.len().to_string();
    let ds = PART.to_string();
    let params = [
        ("fileName", name),
        ("fileSha", sha.as_str()),
        ("fileSize", size.as_str()),
        ("dataSize", ds.as_str()),
        ("fileType", "mp4"),
    ];
    let r = s.v2("POST", "InitUpload", &params, vec![]).await;
    assert_eq!(r["code"], 0, "{r}");
    sha
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_parts_and_simultaneous_finishes_give_one_exact_media() {
    let s = TestServer::start_temp(|_| {}).await;
    // Larger than the running hash's stash (16 MiB), sent last part first.
    let content = random_bytes(40 * PART + 123, 501);
    let sha = init(&s, &content, "reversed").await;
    let chunks: Vec<&[u8]> = content.chunks(PART).collect();
    for (i, c) in chunks.iter().enumerate().rev() {
        s.part(&sha, i * PART, PART, c).await;
    }
    let q = [("fileSha", sha.as_str())];
    let (a, b) = tokio::join!(
        s.v2("GET", "FinishUpload", &q, vec![]),
        s.v2("GET", "FinishUpload", &q, vec![])
    );
    assert_eq!(
        (a["code"].as_i64(), b["code"].as_i64()),
        (Some(0), Some(0)),
        "{a} {b}"
    );
    assert_eq!(a["fileId"], b["fileId"], "{a} {b}");
    let media = s.admin("/admin/media").await;
    assert_eq!(media.as_array().map(Vec::len), Some(1), "{media}");
    assert_eq!(media[0]["sha1"], sha.as_str());
    assert_eq!(media[0]["md5"], "", "no whole-file MD5 is kept");
    let url = a["url"].as_str().unwrap();
    assert!(s.get_bytes(url).await == content, "the media's bytes");
    let etag = s.http.head(url).send().await.unwrap().headers()["etag"].clone();
    let file_id = a["fileId"].as_str().unwrap();
    assert_eq!(
        etag.to_str().unwrap(),
        format!("\"{file_id}-{}\"", content.len())
    );
}
