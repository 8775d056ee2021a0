//! Objects completed from multipart parts are kept as their parts (a span
//! directory, `src/server/span.rs`, no byte copied at completion): such an
//! object made of parts of different sizes reads back byte-exact, whole
//! and by ranges over every part boundary, through GetObject, HEAD and
//! playback, before and after a kill -9 and restart of a real `vodfs
//! serve`; DescribeMediaInfos probes an MP4 whose moov straddles a part
//! boundary; and a kill -9 during CompleteMultipartUpload leaves either the
//! upload (listed, completable) or the whole object, never a part of one.

use std::time::Duration;

use md5::Digest as _;
use serde_json::{Value, json};

use super::killed::{Cos, kill9_and_restart, tags};
use crate::common::*;

const MIB: usize = 1 << 20;

/// An API 3.0 upload session and COS requests signed with its temporary
/// credential.
async fn api3_cos<'a>(s: &'a TestServer, name: &str) -> (Value, Cos<'a>) {
    let a = super::api3::call(
        s,
        "ApplyUpload",
        json!({"MediaType": "mp4", "MediaName": name}),
    )
    .await;
    let cert: &Value = &a["TempCertificate"];
    let cos = Cos {
        s,
        host: format!(
            "{}.cos.{}.myqcloud.com",
            a["StorageBucket"].as_str().unwrap(),
            a["StorageRegion"].as_str().unwrap()
        ),
        id: cert["SecretId"].as_str().expect("temporary id").into(),
        key: cert["SecretKey"].as_str().expect("temporary key").into(),
        token: Some(cert["Token"].as_str().expect("token").into()),
    };
    (a, cos)
}

/// Initiates a multipart upload of `parts` (numbers 1…) and sends them:
/// the upload id and the parts' ETags.
async fn send_parts(cos: &Cos<'_>, path: &str, parts: &[&[u8]]) -> (String, Vec<String>) {
    let (st, _, xml) = cos.call("POST", path, &[("uploads", "")], vec![]).await;
    assert_eq!(st, 200, "{xml}");
    let id = tags(&xml, "UploadId").pop().expect("UploadId");
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = (i + 1).to_string();
        let q = [("partNumber", n.as_str()), ("uploadId", id.as_str())];
        let (st, etag, text) = cos.call("PUT", path, &q, p.to_vec()).await;
        assert_eq!(st, 200, "part {n}: {text}");
        assert_eq!(etag, format!("\"{}\"", md5_hex(p)), "part {n}");
        etags.push(etag);
    }
    (id, etags)
}

/// The ETag S3/COS give a multipart object: the MD5 of the parts' MD5s.
fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut h = md5::Md5::new();
    for p in parts {
        h.update(md5::Md5::digest(p));
    }
    format!("\"{}-{}\"", hex::encode(h.finalize()), parts.len())
}

/// Ranges around every boundary in `bounds` (and a few across several),
/// inclusive, within `len`.
fn ranges(bounds: &[usize], len: usize) -> Vec<(usize, usize)> {
    let mut out = vec![(0, len - 1), (1, len - 2), (len - 5, len - 1)];
    for &b in bounds {
        out.push((b.saturating_sub(3), (b + 2).min(len - 1)));
        out.push((b - 1, b - 1));
        out.push((b, b));
        out.push((b.saturating_sub(MIB / 2), (b + MIB / 2).min(len - 1)));
    }
    out
}

/// GETs `url` with `Range: bytes=a-b` for each range (signed by `cos` when
/// given) and checks each 206 answer against `content`.
async fn assert_ranges(
    s: &TestServer,
    cos: Option<(&Cos<'_>, &str)>,
    url: &str,
    content: &[u8],
    bounds: &[usize],
) {
    for (a, b) in ranges(bounds, content.len()) {
        let req = match cos {
            Some((c, path)) => c.request("GET", path, &[]),
            None => s.http.get(url),
        };
        let r = req
            .header("Range", format!("bytes={a}-{b}"))
            .send()
            .await
            .expect("range request");
        assert_eq!(r.status(), 206, "bytes={a}-{b} of {url}");
        let want = format!("bytes {a}-{b}/{}", content.len());
        assert_eq!(r.headers()["content-range"], want.as_str());
        let got = r.bytes().await.expect("range body");
        assert!(got[..] == content[a..=b], "bytes={a}-{b} of {url} differ");
    }
}

/// GetObject (whole, HEAD, ranges) of the object at `path`.
async fn assert_object(cos: &Cos<'_>, path: &str, content: &[u8], parts: &[&[u8]]) {
    let r = cos.request("HEAD", path, &[]).send().await.expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        content.len().to_string().as_str()
    );
    assert_eq!(r.headers()["etag"], multipart_etag(parts).as_str());
    let (st, etag, _) = cos.call("GET", path, &[], vec![]).await;
    assert_eq!((st, etag), (200, multipart_etag(parts)));
    let whole = cos.request("GET", path, &[]).send().await.expect("get");
    assert!(
        whole.bytes().await.expect("body")[..] == *content,
        "GetObject"
    );
    let bounds = boundaries(parts);
    assert_ranges(cos.s, Some((cos, path)), path, content, &bounds).await;
}

/// The offsets where one part ends and the next begins.
fn boundaries(parts: &[&[u8]]) -> Vec<usize> {
    let mut at = 0;
    let mut out = Vec::new();
    for p in &parts[..parts.len() - 1] {
        at += p.len();
        out.push(at);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_of_uneven_parts_reads_back_exactly_across_kills() {
    let mut svc = Service::start();
    let s = TestServer::attach(&svc.addr);
    let (a, cos) = api3_cos(&s, "uneven parts").await;
    let content = random_bytes(4 * MIB + 3 * 4097 + 333, 91);
    let sizes = [MIB + 4097, 2 * MIB + 4097, MIB + 4097, 333];
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut at = 0;
    for n in sizes {
        parts.push(&content[at..at + n]);
        at += n;
    }
    assert_eq!(at, content.len());
    let path = a["MediaStoragePath"].as_str().unwrap().to_string();
    let (id, etags) = send_parts(&cos, &path, &parts).await;
    let q = [("uploadId", id.as_str())];
    let (st, _, text) = cos
        .call("POST", &path, &q, complete_multipart_body(&etags))
        .await;
    assert_eq!(st, 200, "complete: {text}");
    let etag = tags(&text, "ETag").pop().unwrap_or_default();
    assert_eq!(
        etag.replace("&quot;", "\""),
        multipart_etag(&parts),
        "{text}"
    );
    assert_object(&cos, &path, &content, &parts).await;
    kill9_and_restart(&mut svc);
    assert_object(&cos, &path, &content, &parts).await;

    let key = a["VodSessionKey"].as_str().unwrap();
    let c = super::api3::call(&s, "CommitUpload", json!({"VodSessionKey": key})).await;
    let file_id = c["FileId"]
        .as_str()
        .unwrap_or_else(|| panic!("{c}"))
        .to_string();
    let url = c["MediaUrl"].as_str().unwrap().to_string();
    let bounds = boundaries(&parts);
    for round in 0..2 {
        assert!(
            s.get_bytes(&url).await == content,
            "playback, round {round}"
        );
        assert_ranges(&s, None, &url, &content, &bounds).await;
        let m = s.admin(&format!("/admin/media/{file_id}")).await;
        assert_eq!(m["sha1"], sha1_hex(&content).as_str(), "{m}");
        assert_eq!(m["size"], content.len(), "{m}");
        kill9_and_restart(&mut svc);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mp4_whose_moov_straddles_a_part_boundary_is_probed() {
    let s = TestServer::start_temp(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let mp4 = std::fs::read(make_mp4(dir.path(), "a.mp4", 2)).unwrap();
    // A leading `free` box makes the first part big enough (≥ 1 MiB); the
    // cut falls inside the moov's header.
    let mut content = Vec::with_capacity(MIB + mp4.len());
    content.extend_from_slice(&(MIB as u32).to_be_bytes());
    content.extend_from_slice(b"free");
    content.resize(MIB, 0);
    content.extend_from_slice(&mp4);
    let moov = content
        .windows(4)
        .rposition(|w| w == b"moov")
        .expect("a moov box");
    let cut = moov + 2;
    let parts: Vec<&[u8]> = vec![&content[..cut], &content[cut..]];
    let (a, cos) = api3_cos(&s, "probed").await;
    let path = a["MediaStoragePath"].as_str().unwrap().to_string();
    let (id, etags) = send_parts(&cos, &path, &parts).await;
    let q = [("uploadId", id.as_str())];
    let (st, _, text) = cos
        .call("POST", &path, &q, complete_multipart_body(&etags))
        .await;
    assert_eq!(st, 200, "complete: {text}");
    let key = a["VodSessionKey"].as_str().unwrap();
    let c = super::api3::call(&s, "CommitUpload", json!({"VodSessionKey": key})).await;
    let file_id = c["FileId"].as_str().unwrap_or_else(|| panic!("{c}"));
    let v = super::api3::call(&s, "DescribeMediaInfos", json!({"FileIds": [file_id]})).await;
    let info = &v["MediaInfoSet"][0]["MetaData"];
    assert_eq!(info["Size"], content.len(), "{v}");
    assert_eq!(
        (info["Width"].as_u64(), info["Height"].as_u64()),
        (Some(320), Some(240)),
        "{v}"
    );
    let d = info["Duration"].as_f64().unwrap_or_default();
    assert!((1.8..2.2).contains(&d), "duration {d}: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_completion_leaves_the_upload_or_the_whole_object() {
    let mut svc = Service::start();
    let s = TestServer::attach(&svc.addr);
    for (round, delay_ms) in [0u64, 2, 8, 25].into_iter().enumerate() {
        let (a, cos) = api3_cos(&s, "killed completion").await;
        let content = random_bytes(3 * MIB + 777, 100 + round as u64);
        let parts: Vec<&[u8]> = vec![
            &content[..MIB + 1],
            &content[MIB + 1..2 * MIB + 8],
            &content[2 * MIB + 8..],
        ];
        let path = a["MediaStoragePath"].as_str().unwrap().to_string();
        let (id, etags) = send_parts(&cos, &path, &parts).await;
        let q = [("uploadId", id.as_str())];
        let completing = tokio::spawn(
            cos.request("POST", &path, &q)
                .body(complete_multipart_body(&etags))
                .send(),
        );
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        kill9_and_restart(&mut svc);
        completing.abort();
        let (st, _, list) = cos.call("GET", &path, &q, vec![]).await;
        match st {
            // Not completed (or recorded but not yet dropped): every part
            // is still there, and the completion goes through now.
            200 => {
                assert_eq!(tags(&list, "PartNumber"), ["1", "2", "3"], "{list}");
                let (st, _, text) = cos
                    .call("POST", &path, &q, complete_multipart_body(&etags))
                    .await;
                assert_eq!(st, 200, "round {round}: complete again: {text}");
            }
            404 => assert!(list.contains("NoSuchUpload"), "{list}"),
            other => panic!("round {round}: ListParts {other}: {list}"),
        }
        assert_object(&cos, &path, &content, &parts).await;
        let key = a["VodSessionKey"].as_str().unwrap();
        let c = super::api3::call(&s, "CommitUpload", json!({"VodSessionKey": key})).await;
        let url = c["MediaUrl"].as_str().unwrap_or_else(|| panic!("{c}"));
        assert!(s.get_bytes(url).await == content, "round {round}: playback");
    }
}
