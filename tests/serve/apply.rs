//! Family C over HTTP: ApplyUpload → COS XML (PUT and multipart) →
//! CommitUpload, and the COS signature and session failures.

use serde_json::Value;
use vodfs::vod::sign;

use crate::common::*;

struct Cos<'a> {
    s: &'a TestServer,
    host: String,
}

impl Cos<'_> {
    async fn call(
        &self,
        method: &str,
        key_path: &str,
        query: &[(&str, &str)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.call_with(
            method,
            key_path,
            query,
            body,
            (now() - 60, now() + 600),
            SECRET_KEY,
        )
        .await
    }

    async fn call_with(
        &self,
        method: &str,
        key_path: &str,
        query: &[(&str, &str)],
        body: Vec<u8>,
        window: (u64, u64),
        key: &str,
    ) -> reqwest::Response {
        let params: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let headers = vec![
            ("Host".to_string(), self.host.clone()),
            (
                "Content-Type".to_string(),
                "application/octet-stream".to_string(),
            ),
        ];
        let auth =
            sign::cos_authorization(SECRET_ID, key, window, method, key_path, &params, &headers);
        let wire_path: String = key_path
            .split('/')
            .map(sign::cos_encode)
            .collect::<Vec<_>>()
            .join("/");
        let mut url = self.s.url(&wire_path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(
                &query
                    .iter()
                    .map(|(k, v)| {
                        if v.is_empty() {
                            k.to_string()
                        } else {
                            format!("{k}={}", sign::cos_encode(v))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
            );
        }
        self.s
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .header("Host", &self.host)
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", auth)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

fn tag(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml.find(&open).unwrap() + open.len();
    let end = xml[start..].find(&format!("</{name}>")).unwrap() + start;
    xml[start..end].to_string()
}

async fn apply(s: &TestServer, cover: bool) -> Value {
    let mut p = vec![
        ("videoType", "mp4"),
        ("videoName", "cos clip"),
        ("procedure", "QCVB_SimpleProcessFile(1, 1)"),
    ];
    if cover {
        p.push(("coverType", "jpg"));
    }
    let r = s.v2("POST", "ApplyUpload", &p, vec![]).await;
    assert_eq!(
        (r["code"].as_i64(), r["codeDesc"].as_str()),
        (Some(0), Some("Success")),
        "{r}"
    );
    r
}

/// CommitUpload of the session `apply` opened.
async fn commit(s: &TestServer, apply: &Value) -> Value {
    s.v2(
        "POST",
        "CommitUpload",
        &[("vodSessionKey", apply["vodSessionKey"].as_str().unwrap())],
        vec![],
    )
    .await
}

fn cos_for<'a>(s: &'a TestServer, apply: &Value) -> Cos<'a> {
    let host = format!(
        "{}-{}.cos.{}.myqcloud.com",
        apply["storageBucket"].as_str().unwrap(),
        apply["storageAppId"],
        apply["storageRegionV5"].as_str().unwrap()
    );
    Cos { s, host }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_object_then_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let a = apply(&s, true).await;
    let cos = cos_for(&s, &a);
    let video_path = a["video"]["storagePath"].as_str().unwrap();
    let cover_path = a["cover"]["storagePath"].as_str().unwrap();
    let session = a["vodSessionKey"].as_str().unwrap();
    let video = random_bytes(70_000, 10);
    let cover = random_bytes(500, 11);

    // Commit before the objects exist: an error, and the key stays usable.
    let r = s
        .v2(
            "POST",
            "CommitUpload",
            &[("vodSessionKey", session)],
            vec![],
        )
        .await;
    assert_eq!(r["code"], 4000, "{r}");

    let r = cos.call("PUT", video_path, &[], video.clone()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        r.headers()["etag"],
        format!("\"{}\"", md5_hex(&video)).as_str()
    );
    // Video only: cover still missing.
    let r = s
        .v2(
            "POST",
            "CommitUpload",
            &[("vodSessionKey", session)],
            vec![],
        )
        .await;
    assert_eq!(r["code"], 4000, "{r}");
    assert!(r["message"].as_str().unwrap().contains("cover"));
    assert_eq!(
        cos.call("PUT", cover_path, &[], cover.clone())
            .await
            .status(),
        200
    );

    let r = s
        .v2(
            "POST",
            "CommitUpload",
            &[("vodSessionKey", session)],
            vec![],
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let file_id = r["fileId"].as_str().unwrap();
    let url = r["video"]["url"].as_str().unwrap();
    assert_eq!(
        url,
        s.url(&format!(
            "/{}{}",
            a["storageBucket"].as_str().unwrap(),
            video_path
        ))
    );
    assert_eq!(s.get_bytes(url).await, video);
    assert_eq!(
        s.get_bytes(r["cover"]["url"].as_str().unwrap()).await,
        cover
    );
    let rec = s.admin(&format!("/admin/media/{file_id}")).await;
    assert_eq!(
        (rec["flow"].as_str(), rec["procedure"].as_str()),
        (Some("C"), Some("QCVB_SimpleProcessFile(1, 1)"))
    );
    assert_eq!(rec["coverUrl"], r["cover"]["url"]);

    // Committed again while the key lives (an answer lost and asked
    // again): the same media, nothing new; an unknown key is 31001.
    let again = s
        .v2(
            "POST",
            "CommitUpload",
            &[("vodSessionKey", session)],
            vec![],
        )
        .await;
    assert_eq!(again["code"], 0, "{again}");
    assert_eq!(again["fileId"], r["fileId"], "{again}");
    assert_eq!(again["video"], r["video"], "{again}");
    assert_eq!(again["cover"], r["cover"], "{again}");
    let r = s
        .v2(
            "POST",
            "CommitUpload",
            &[("vodSessionKey", "bm9zdWNoa2V5")],
            vec![],
        )
        .await;
    assert_eq!(r["code"], 31001, "{r}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_is_31001() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| c.session_ttl_secs = 0).await;
    let a = apply(&s, false).await;
    let cos = cos_for(&s, &a);
    assert_eq!(
        cos.call(
            "PUT",
            a["video"]["storagePath"].as_str().unwrap(),
            &[],
            random_bytes(10, 1)
        )
        .await
        .status(),
        200
    );
    let r = commit(&s, &a).await;
    assert_eq!(r["code"], 31001, "{r}");
    assert!(r["message"].as_str().unwrap().contains("expired"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_with_listing() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let a = apply(&s, false).await;
    let cos = cos_for(&s, &a);
    let path = a["video"]["storagePath"].as_str().unwrap();
    let video = random_bytes((1 << 20) * 2 + 12345, 12);

    let r = cos.call("POST", path, &[("uploads", "")], vec![]).await;
    assert_eq!(r.status(), 200);
    let upload_id = tag(&r.text().await.unwrap(), "UploadId");
    let listing = cos
        .call("GET", "/", &[("uploads", "")], vec![])
        .await
        .text()
        .await
        .unwrap();
    assert!(listing.contains(&upload_id), "{listing}");

    let chunks: Vec<&[u8]> = video.chunks(1 << 20).collect();
    let mut etags = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let n = (i + 1).to_string();
        let r = cos
            .call(
                "PUT",
                path,
                &[("partNumber", &n), ("uploadId", &upload_id)],
                c.to_vec(),
            )
            .await;
        assert_eq!(r.status(), 200);
        etags.push(r.headers()["etag"].to_str().unwrap().to_string());
    }
    let parts = cos
        .call("GET", path, &[("uploadId", &upload_id)], vec![])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(parts.matches("<Part>").count(), 3, "{parts}");

    // A wrong ETag is refused.
    let bad = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"00\"</ETag></Part></CompleteMultipartUpload>";
    let r = cos
        .call("POST", path, &[("uploadId", &upload_id)], bad.into())
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("InvalidPart"));

    let r = cos
        .call(
            "POST",
            path,
            &[("uploadId", &upload_id)],
            complete_multipart_body(&etags),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<ETag>"));
    let listing = cos
        .call("GET", "/", &[("uploads", "")], vec![])
        .await
        .text()
        .await
        .unwrap();
    assert!(!listing.contains(&upload_id), "{listing}");

    let r = commit(&s, &a).await;
    assert_eq!(r["code"], 0, "{r}");
    let got = s.get_bytes(r["video"]["url"].as_str().unwrap()).await;
    assert_eq!(sha1_hex(&got), sha1_hex(&video));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cos_signature_failures() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let a = apply(&s, false).await;
    let cos = cos_for(&s, &a);
    let path = a["video"]["storagePath"].as_str().unwrap();
    let code = |r: String| {
        r.split("<Code>")
            .nth(1)
            .and_then(|c| c.split('<').next())
            .unwrap_or("")
            .to_string()
    };

    let r = cos
        .call_with(
            "PUT",
            path,
            &[],
            random_bytes(10, 1),
            (now() - 60, now() + 600),
            "wrong key",
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(code(r.text().await.unwrap()), "SignatureDoesNotMatch");

    let r = cos
        .call_with(
            "PUT",
            path,
            &[],
            random_bytes(10, 1),
            (now() - 7200, now() - 3600),
            SECRET_KEY,
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("expired"));

    let r = s
        .http
        .put(s.url(path))
        .header("Host", &cos.host)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no Authorization");

    let other = Cos {
        s: &s,
        host: format!("nobucket-1.cos.{}.myqcloud.com", "ap-guangzhou"),
    };
    assert_eq!(other.call("PUT", path, &[], vec![1]).await.status(), 404);

    // Dot segments in the key, sent raw (an URL library would remove them).
    let reply = raw_http(
        &s,
        &format!("PUT /a/%2E%2E/%2E%2E/vodfs.sqlite3 HTTP/1.1\r\nHost: {}\r\nAuthorization: q-sign-algorithm=sha1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx", cos.host),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert_eq!(code(reply), "InvalidURI");
    s.stop().await;
}

async fn raw_http(s: &TestServer, request: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut sock = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    sock.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    sock.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Object bodies have their own bound (COS's 5 GiB by default,
/// `max_object_body`), apart from the VOD API's `max_body`: a PUT larger
/// than the API's bound is stored; one declared past the object bound is
/// EntityTooLarge before its body is read (with `Connection: close`, so
/// the client's next call takes a new connection), and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_bodies_have_their_own_bound_past_the_api_s() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| {
        assert_eq!(c.max_object_body, 5 << 30, "COS's bound by default");
        c.max_body = 10_000;
        c.max_object_body = 100_000;
    })
    .await;
    let a = apply(&s, false).await;
    let cos = cos_for(&s, &a);
    let video_path = a["video"]["storagePath"].as_str().unwrap();
    let too_big = cos
        .call("PUT", video_path, &[], random_bytes(100_001, 13))
        .await;
    assert_eq!(too_big.status(), 400);
    assert_eq!(
        too_big.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "a body refused unread ends its connection, and says so to the client's pool"
    );
    assert!(too_big.text().await.unwrap().contains("EntityTooLarge"));
    let r = commit(&s, &a).await;
    assert_eq!(r["code"], 4000, "nothing was stored: {r}");
    let video = random_bytes(70_000, 12);
    let r = cos.call("PUT", video_path, &[], video.clone()).await;
    assert_eq!(
        r.headers().get("connection"),
        None,
        "a body read whole keeps its connection"
    );
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = commit(&s, &a).await;
    assert_eq!(r["code"], 0, "{r}");
}
