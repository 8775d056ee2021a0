//! Issue 13 §7, the service side of an outage: a `vodfs serve` process
//! killed with SIGKILL while a part's body is half sent loses no part it
//! acknowledged, keeps nothing of the half part, and answers the resumed
//! upload correctly — in every family: v4's InitUpload code 1 with its part
//! list (family A; UGC shares its state machine), and COS ListParts for
//! ApplyUpload (family C) and API 3.0 (temporary credentials). A real child
//! process (`Service`), reached through the serve tests' signing helpers
//! (`TestServer::attach`); restarted on the same port and data directory.

use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{Value, json};
use vodfs::vod::sign;

use crate::common::*;

const PART: usize = 1 << 20;

/// A body of which only `first` is ever sent (the request declares its
/// whole length): the sender stalls after it, as when the service dies
/// mid-part.
fn stalled_body(first: &[u8]) -> reqwest::Body {
    let head = bytes::Bytes::copy_from_slice(first);
    let body = futures::stream::iter(vec![Ok::<_, std::io::Error>(head)])
        .chain(futures::stream::pending());
    reqwest::Body::wrap_stream(body)
}

/// SIGKILL, then the same service again on its port and data directory
/// (so a handle attached to it talks to the new process).
pub(super) fn kill9_and_restart(svc: &mut Service) {
    tokio::task::block_in_place(|| {
        svc.kill();
        svc.start_again();
    });
}

/// Lets a half-sent body reach the service before it is killed (if it has
/// not, the kill is still mid-upload: the test holds either way).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_v4_upload_resumes_from_every_acknowledged_part() {
    let mut svc = Service::start();
    let s = TestServer::attach(&svc.addr);
    let content = random_bytes(PART * 3 + 777, 71);
    let chunks: Vec<&[u8]> = content.chunks(PART).collect();
    let (sha, size, ds) = (
        sha1_hex(&content),
        content.len().to_string(),
        PART.to_string(),
    );
    let init = [
        ("fileName", "killed"),
        ("fileSha", sha.as_str()),
        ("fileSize", size.as_str()),
        ("dataSize", ds.as_str()),
        ("fileType", "mp4"),
    ];
    assert_eq!(s.v2("GET", "InitUpload", &init, vec![]).await["code"], 0);
    s.part(&sha, 0, PART, chunks[0]).await;
    s.part(&sha, PART, PART, chunks[1]).await;
    // Part 2: half its body, then the service dies.
    let (off, md5) = ((2 * PART).to_string(), md5_hex(chunks[2]));
    let p = s.signed(
        "POST",
        "/v2/index.php",
        "UploadPart",
        &[
            ("fileSha", &sha),
            ("offset", &off),
            ("dataSize", &ds),
            ("dataMd5", &md5),
        ],
    );
    let url = format!("{}?{}", s.url("/v2/index.php"), sign::encode_query(&p));
    let stalled = tokio::spawn(
        s.http
            .post(url)
            .header("Content-Length", PART.to_string())
            .body(stalled_body(&chunks[2][..PART / 2]))
            .send(),
    );
    settle().await;
    kill9_and_restart(&mut svc);
    stalled.abort();

    let again = s.v2("GET", "InitUpload", &init, vec![]).await;
    assert_eq!(again["code"], 1, "a resumable upload: {again}");
    let listed: Vec<(u64, u64, String)> = again["listParts"]
        .as_array()
        .expect("listParts")
        .iter()
        .map(|p| {
            (
                p["offset"].as_u64().unwrap(),
                p["dataSize"].as_u64().unwrap(),
                p["dataMd5"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, u64, String)> = chunks[..2]
        .iter()
        .enumerate()
        .map(|(i, c)| ((i * PART) as u64, PART as u64, md5_hex(c)))
        .collect();
    assert_eq!(listed, want, "exactly the acknowledged parts");
    // A client whose acknowledgement was lost sends part 1 again: taken.
    s.part(&sha, PART, PART, chunks[1]).await;
    s.part(&sha, 2 * PART, PART, chunks[2]).await;
    s.part(&sha, 3 * PART, PART, chunks[3]).await;
    let fin = s
        .v2("GET", "FinishUpload", &[("fileSha", &sha)], vec![])
        .await;
    assert_eq!(fin["code"], 0, "{fin}");
    assert!(s.get_bytes(fin["url"].as_str().unwrap()).await == content);
    let media = s.admin("/admin/media").await;
    assert_eq!(media.as_array().map(Vec::len), Some(1), "{media}");
    assert_eq!(media[0]["sha1"], sha.as_str());
}

/// COS requests of one upload session, signed with its key (the
/// account's for ApplyUpload, the temporary credential for API 3.0).
pub(super) struct Cos<'a> {
    pub(super) s: &'a TestServer,
    pub(super) host: String,
    pub(super) id: String,
    pub(super) key: String,
    pub(super) token: Option<String>,
}

impl Cos<'_> {
    pub(super) fn request(
        &self,
        method: &str,
        key_path: &str,
        query: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let params: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut headers = vec![("host".to_string(), self.host.clone())];
        if let Some(t) = &self.token {
            headers.push(("x-cos-security-token".to_string(), t.clone()));
        }
        let window = (now() - 60, now() + 600);
        let auth = sign::cos_authorization(
            &self.id, &self.key, window, method, key_path, &params, &headers,
        );
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| match v.is_empty() {
                true => k.to_string(),
                false => format!("{k}={}", sign::cos_encode(v)),
            })
            .collect();
        let wire: Vec<String> = key_path.split('/').map(sign::cos_encode).collect();
        let url = format!("{}?{}", self.s.url(&wire.join("/")), q.join("&"));
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self
            .s
            .http
            .request(m, url)
            .header("Host", &self.host)
            .header("Authorization", auth);
        if let Some(t) = &self.token {
            r = r.header("x-cos-security-token", t);
        }
        r
    }

    /// Sends a request; `(status, ETag header, body)`.
    pub(super) async fn call(
        &self,
        method: &str,
        key_path: &str,
        query: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, String, String) {
        let resp = self
            .request(method, key_path, query)
            .body(body)
            .send()
            .await
            .expect("cos request");
        let etag = resp
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default();
        let status = resp.status().as_u16();
        (status, etag, resp.text().await.unwrap_or_default())
    }
}

/// Every `<tag>…</tag>` value in `xml`, in order.
pub(super) fn tags(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.to_string()))
        .collect()
}

/// A multipart upload of `content` to `key_path`: two parts acknowledged,
/// the third half sent when the service is killed; after the restart
/// ListParts names exactly the two (numbers, ETags, sizes), and the upload
/// completes from there.
async fn cos_multipart_across_a_kill(
    svc: &mut Service,
    cos: &Cos<'_>,
    key_path: &str,
    content: &[u8],
) {
    let (st, _, xml) = cos.call("POST", key_path, &[("uploads", "")], vec![]).await;
    assert_eq!(st, 200, "{xml}");
    let upload_id = tags(&xml, "UploadId").pop().expect("UploadId");
    let chunks: Vec<&[u8]> = content.chunks(PART).collect();
    let mut etags = Vec::new();
    for (i, c) in chunks[..2].iter().enumerate() {
        let n = (i + 1).to_string();
        let q = [("partNumber", n.as_str()), ("uploadId", upload_id.as_str())];
        let (st, etag, text) = cos.call("PUT", key_path, &q, c.to_vec()).await;
        assert_eq!(st, 200, "part {n}: {text}");
        etags.push(etag);
    }
    let q = [("partNumber", "3"), ("uploadId", upload_id.as_str())];
    let stalled = tokio::spawn(
        cos.request("PUT", key_path, &q)
            .header("Content-Length", chunks[2].len().to_string())
            .body(stalled_body(&chunks[2][..PART / 2]))
            .send(),
    );
    settle().await;
    kill9_and_restart(svc);
    stalled.abort();

    let q = [("uploadId", upload_id.as_str())];
    let (st, _, list) = cos.call("GET", key_path, &q, vec![]).await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(tags(&list, "PartNumber"), ["1", "2"], "{list}");
    assert_eq!(tags(&list, "ETag"), etags, "{list}");
    let size = PART.to_string();
    assert_eq!(
        tags(&list, "Size"),
        [size.as_str(), size.as_str()],
        "{list}"
    );
    for (i, c) in chunks.iter().enumerate().skip(2) {
        let n = (i + 1).to_string();
        let q = [("partNumber", n.as_str()), ("uploadId", upload_id.as_str())];
        let (st, etag, text) = cos.call("PUT", key_path, &q, c.to_vec()).await;
        assert_eq!(st, 200, "part {n}: {text}");
        etags.push(etag);
    }
    let q = [("uploadId", upload_id.as_str())];
    let (st, _, text) = cos
        .call("POST", key_path, &q, complete_multipart_body(&etags))
        .await;
    assert_eq!(st, 200, "complete: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_apply_cos_upload_lists_its_acknowledged_parts_and_completes() {
    let mut svc = Service::start();
    let s = TestServer::attach(&svc.addr);
    let a = s
        .v2(
            "POST",
            "ApplyUpload",
            &[("videoType", "mp4"), ("videoName", "killed cos")],
            vec![],
        )
        .await;
    assert_eq!(a["code"], 0, "{a}");
    let host = format!(
        "{}-{}.cos.{}.myqcloud.com",
        a["storageBucket"].as_str().unwrap(),
        a["storageAppId"],
        a["storageRegionV5"].as_str().unwrap()
    );
    let cos = Cos {
        s: &s,
        host,
        id: SECRET_ID.into(),
        key: SECRET_KEY.into(),
        token: None,
    };
    let content = random_bytes(PART * 3 + 4321, 72);
    let path = a["video"]["storagePath"].as_str().unwrap().to_string();
    cos_multipart_across_a_kill(&mut svc, &cos, &path, &content).await;
    let key = a["vodSessionKey"].as_str().unwrap();
    let c = s
        .v2("POST", "CommitUpload", &[("vodSessionKey", key)], vec![])
        .await;
    assert_eq!(c["code"], 0, "{c}");
    assert!(s.get_bytes(c["video"]["url"].as_str().unwrap()).await == content);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_api3_cos_upload_lists_its_acknowledged_parts_and_completes() {
    let mut svc = Service::start();
    let s = TestServer::attach(&svc.addr);
    let a = super::api3::call(
        &s,
        "ApplyUpload",
        json!({"MediaType": "mp4", "MediaName": "killed api3"}),
    )
    .await;
    let cert: &Value = &a["TempCertificate"];
    let cos = Cos {
        s: &s,
        host: format!(
            "{}.cos.{}.myqcloud.com",
            a["StorageBucket"].as_str().unwrap(),
            a["StorageRegion"].as_str().unwrap()
        ),
        id: cert["SecretId"].as_str().expect("temporary id").into(),
        key: cert["SecretKey"].as_str().expect("temporary key").into(),
        token: Some(cert["Token"].as_str().expect("token").into()),
    };
    let content = random_bytes(PART * 3 + 99, 73);
    let path = a["MediaStoragePath"].as_str().unwrap().to_string();
    cos_multipart_across_a_kill(&mut svc, &cos, &path, &content).await;
    let key = a["VodSessionKey"].as_str().unwrap();
    let c = super::api3::call(&s, "CommitUpload", json!({"VodSessionKey": key})).await;
    let file_id = c["FileId"].as_str().unwrap_or_else(|| panic!("{c}"));
    assert!(s.get_bytes(c["MediaUrl"].as_str().unwrap()).await == content);
    let m = s.admin(&format!("/admin/media/{file_id}")).await;
    assert_eq!(m["sha1"], sha1_hex(&content).as_str(), "{m}");
}

/// The same race without a kill, as issue 13's stall detection makes it:
/// a client abandons a stalled UploadPart and sends the part again on a
/// new connection while the service still holds the first request. The
/// retry is acknowledged; when the abandoned request fails afterwards, the
/// part the retry recorded must stay (it used to be forgotten, and the
/// upload then lacked an acknowledged part).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_stalled_part_does_not_forget_its_acknowledged_retry() {
    let s = TestServer::start_temp(|_| {}).await;
    let content = random_bytes(PART + 500, 74);
    let chunks: Vec<&[u8]> = content.chunks(PART).collect();
    let (sha, size, ds) = (
        sha1_hex(&content),
        content.len().to_string(),
        PART.to_string(),
    );
    let init = [
        ("fileName", "abandoned"),
        ("fileSha", sha.as_str()),
        ("fileSize", size.as_str()),
        ("dataSize", ds.as_str()),
        ("fileType", "mp4"),
    ];
    assert_eq!(s.v2("GET", "InitUpload", &init, vec![]).await["code"], 0);
    let md5 = md5_hex(chunks[0]);
    let p = s.signed(
        "POST",
        "/v2/index.php",
        "UploadPart",
        &[
            ("fileSha", &sha),
            ("offset", "0"),
            ("dataSize", &ds),
            ("dataMd5", &md5),
        ],
    );
    let url = format!("{}?{}", s.url("/v2/index.php"), sign::encode_query(&p));
    let stalled = tokio::spawn(
        reqwest::Client::new()
            .post(url)
            .header("Content-Length", PART.to_string())
            .body(stalled_body(&chunks[0][..PART / 2]))
            .send(),
    );
    settle().await;
    // The retry on a new connection, acknowledged.
    s.part(&sha, 0, PART, chunks[0]).await;
    // Now the abandoned request's connection goes; its handler fails.
    stalled.abort();
    let _ = stalled.await;
    settle().await;
    let again = s.v2("GET", "InitUpload", &init, vec![]).await;
    let offsets: Vec<u64> = again["listParts"]
        .as_array()
        .unwrap_or_else(|| panic!("{again}"))
        .iter()
        .map(|p| p["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [0], "the acknowledged part 0: {again}");
    s.part(&sha, PART, PART, chunks[1]).await;
    let fin = s
        .v2("GET", "FinishUpload", &[("fileSha", &sha)], vec![])
        .await;
    assert_eq!(fin["code"], 0, "{fin}");
    assert!(s.get_bytes(fin["url"].as_str().unwrap()).await == content);
}
