//! The api3 flow against a small in-process fake of API 3.0 and COS that
//! checks the TC3 signature and the temporary credential's token. The fake
//! speaks just enough HTTP/1.1 by hand (axum belongs to `server`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use md5::{Digest as _, Md5};

use crate::vod::rules::cos_xml::ListPartsResult;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::session::TempCred;
use super::*;
use crate::vod::flow::{CoverRequest, UploadSettings};
use crate::vod::rules::parts::part_range;

const TOKEN: &str = "tmp-token-EXAMPLE";

#[derive(Default)]
struct Fake {
    /// Seconds from now the minted credential lives.
    lifetime: i64,
    /// ApplyUpload answers this error (code, message) when set.
    apply_error: Option<(String, String)>,
    /// API calls seen: (action, body JSON).
    calls: Vec<(String, Value)>,
    /// COS requests seen: (method, path, query).
    cos: Vec<(String, String, String)>,
    objects: HashMap<String, Vec<u8>>,
    /// uploadId → part number → bytes.
    uploads: HashMap<String, HashMap<u32, Vec<u8>>>,
}

type Shared = Arc<Mutex<Fake>>;

fn md5_hex(b: &[u8]) -> String {
    hex::encode(Md5::digest(b))
}

/// Status, extra headers, body.
type Response = (u16, Vec<(&'static str, String)>, Vec<u8>);

fn api_reply(v: Value) -> Response {
    let mut r = json!({ "Response": v });
    r["Response"]["RequestId"] = json!("req-1");
    (
        200,
        vec![("content-type", "application/json".into())],
        r.to_string().into_bytes(),
    )
}

fn status(code: u16, body: String) -> Response {
    (code, Vec::new(), body.into_bytes())
}

/// One request: method, path, query, lower-cased headers, body.
struct Request {
    method: String,
    path: String,
    query: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn handle(fake: &Shared, r: Request) -> Response {
    let h = |n: &str| r.headers.get(n).cloned().unwrap_or_default();
    let host = h("host");
    if host.ends_with(".cos.ap-guangzhou.myqcloud.com") {
        return cos(fake, r);
    }
    let body = &r.body;
    let action = h("x-tc-action");
    assert_eq!(h("x-tc-version"), "2018-07-17");
    assert_eq!(h("x-tc-region"), "ap-guangzhou");
    let auth = tc3::Tc3Auth::parse(&h("authorization")).expect("tc3 authorization");
    let ts: u64 = h("x-tc-timestamp").parse().unwrap();
    let ct = h("content-type");
    let signed = [("content-type", ct.as_str()), ("host", host.as_str())];
    let req = tc3::Tc3Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &signed,
        payload: body,
        unsigned_payload: false,
        timestamp: ts,
        service: &auth.service,
    };
    assert!(auth.verify("account-key", &req), "bad TC3 signature");
    assert_eq!(auth.secret_id, "AKIDaccount");
    let params: Value = serde_json::from_slice(body).unwrap();
    let mut f = fake.lock().unwrap();
    f.calls.push((action.clone(), params.clone()));
    match action.as_str() {
        "ApplyUpload" => {
            if let Some((code, message)) = f.apply_error.clone() {
                return api_reply(json!({"Error": {"Code": code, "Message": message}}));
            }
            let exp = now() as i64 + f.lifetime;
            let mut r = json!({
                "StorageBucket": "abcd1234-1250000000",
                "StorageRegion": "ap-guangzhou",
                "VodSessionKey": format!("sess-{}", f.calls.len()),
                "MediaStoragePath": format!("/abcd1234/{}/f0.mp4", f.calls.len()),
                "TempCertificate": {"SecretId": "AKIDtmp", "SecretKey": "tmp-key",
                    "Token": TOKEN, "ExpiredTime": exp},
            });
            if params.get("CoverType").is_some() {
                r["CoverStoragePath"] = json!(format!("/abcd1234/{}/cover.jpg", f.calls.len()));
            }
            api_reply(r)
        }
        "CommitUpload" => {
            let key = params["VodSessionKey"].as_str().unwrap().to_string();
            let n = key.trim_start_matches("sess-");
            let path = format!("/abcd1234/{n}/f0.mp4");
            if !f.objects.contains_key(&path) {
                return api_reply(
                    json!({"Error": {"Code": "ResourceNotFound", "Message": "no media"}}),
                );
            }
            let cover = format!("/abcd1234/{n}/cover.jpg");
            let mut r = json!({"FileId": format!("52858907840000000{n:0>2}"),
                "MediaUrl": format!("http://127.0.0.1/vod{path}")});
            if f.objects.contains_key(&cover) {
                r["CoverUrl"] = json!(format!("http://127.0.0.1/vod{cover}"));
            }
            api_reply(r)
        }
        _ => api_reply(json!({"Error": {"Code": "InvalidAction", "Message": "?"}})),
    }
}

fn cos(fake: &Shared, r: Request) -> Response {
    let mut f = fake.lock().unwrap();
    let path = r.path.clone();
    let body = r.body;
    let q: HashMap<String, String> = url::form_urlencoded::parse(r.query.as_bytes())
        .into_owned()
        .collect();
    f.cos
        .push((r.method.clone(), path.clone(), r.query.clone()));
    let token = r.headers.get("x-cos-security-token").map(String::as_str);
    let auth = r.headers.get("authorization").map_or("", String::as_str);
    let expired = f.lifetime <= 0;
    if token != Some(TOKEN) || !auth.contains("q-ak=AKIDtmp") || expired {
        let e = cos_xml::Error {
            code: "AccessDenied".into(),
            message: "bad or expired credential".into(),
            resource: path,
            request_id: "r".into(),
        };
        return status(403, e.to_xml());
    }
    let etag = |b: &[u8]| {
        (
            200,
            vec![("etag", format!("\"{}\"", md5_hex(b)))],
            Vec::new(),
        )
    };
    match (r.method.as_str(), q.get("uploadId"), q.get("partNumber")) {
        ("PUT", None, None) => {
            let tag = etag(&body);
            f.objects.insert(path, body);
            tag
        }
        ("POST", None, None) if q.contains_key("uploads") => {
            let id = format!("UPID{}", f.uploads.len() + 1);
            f.uploads.insert(id.clone(), HashMap::new());
            let x = cos_xml::InitiateMultipartUploadResult {
                bucket: "b".into(),
                key: path,
                upload_id: id,
            };
            status(200, x.to_xml())
        }
        ("PUT", Some(id), Some(n)) => {
            let tag = etag(&body);
            let n: u32 = n.parse().unwrap();
            match f.uploads.get_mut(id) {
                Some(u) => {
                    u.insert(n, body);
                    tag
                }
                None => status(404, String::new()),
            }
        }
        ("GET", Some(id), None) => {
            let no_such = cos_xml::Error {
                code: "NoSuchUpload".into(),
                message: "gone".into(),
                resource: path.clone(),
                request_id: "r".into(),
            };
            let Some(u) = f.uploads.get(id) else {
                return status(404, no_such.to_xml());
            };
            let mut parts: Vec<_> = u
                .iter()
                .map(|(n, b)| cos_xml::ListedPart {
                    number: *n,
                    etag: md5_hex(b),
                    size: b.len() as u64,
                })
                .collect();
            parts.sort_by_key(|p| p.number);
            let l = ListPartsResult {
                bucket: "b".into(),
                key: path,
                upload_id: id.clone(),
                parts,
            };
            status(200, l.to_xml())
        }
        ("POST", Some(id), None) => {
            let Some(u) = f.uploads.remove(id) else {
                return status(404, String::new());
            };
            let mut numbers: Vec<_> = u.keys().copied().collect();
            numbers.sort();
            let all: Vec<u8> = numbers.iter().flat_map(|n| u[n].clone()).collect();
            f.objects.insert(path.clone(), all);
            let r = cos_xml::CompleteMultipartUploadResult {
                location: String::new(),
                bucket: "b".into(),
                key: path,
                etag: "x-1".into(),
            };
            status(200, r.to_xml())
        }
        _ => status(400, String::new()),
    }
}

/// Serves keep-alive requests on one connection until it closes.
async fn connection(stream: tokio::net::TcpStream, fake: Shared) -> std::io::Result<()> {
    let mut conn = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut words = line.split_whitespace();
        let method = words.next().unwrap_or("").to_string();
        let target = words.next().unwrap_or("").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            conn.read_line(&mut h).await?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.insert(n.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        conn.read_exact(&mut body).await?;
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let path = percent_encoding::percent_decode_str(path)
            .decode_utf8_lossy()
            .into_owned();
        let request = Request {
            method,
            query: query.to_string(),
            path,
            headers,
            body,
        };
        let (code, extra, out) = handle(&fake, request);
        let mut head = format!("HTTP/1.1 {code} X\r\ncontent-length: {}\r\n", out.len());
        for (n, v) in extra {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        conn.get_mut().write_all(head.as_bytes()).await?;
        conn.get_mut().write_all(&out).await?;
    }
}

async fn fake(lifetime: i64) -> (Shared, Api3Client) {
    let shared: Shared = Arc::new(Mutex::new(Fake {
        lifetime,
        ..Fake::default()
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = shared.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(connection(stream, state.clone()));
        }
    });
    let client = Api3Client::new(
        Api3Config::new(format!("http://{addr}")),
        Credentials::new("AKIDaccount", "account-key"),
    )
    .unwrap();
    (shared, client)
}

fn request(data: &[u8]) -> StartRequest {
    StartRequest {
        file_name: "clip".into(),
        file_type: "mp4".into(),
        file_size: data.len() as u64,
        sha1_hex: "0".repeat(40),
        part_size: 1 << 20,
        settings: UploadSettings {
            class_id: Some(3),
            source_context: Some("ctx".into()),
            session_context: Some("sess ctx".into()),
            storage_region: Some("ap-guangzhou".into()),
            expire_time: Some("2030-01-01T00:00:00Z".into()),
            ..UploadSettings::default()
        },
        resume: None,
    }
}

fn part(session: &Session, data: &[u8], index: u64) -> Part {
    let (offset, size) = part_range(data.len() as u64, session.part_size, index);
    let bytes = Bytes::copy_from_slice(&data[offset as usize..(offset + size) as usize]);
    Part {
        index,
        offset,
        md5_hex: md5_hex(&bytes),
        data: bytes,
    }
}

fn session_of(s: Started) -> (Session, Vec<HeldPart>) {
    match s {
        Started::Upload { session, held, .. } => (session, held),
        Started::Complete { .. } => panic!("no instant upload in api3"),
    }
}

#[tokio::test]
async fn a_small_file_is_one_put_and_the_settings_go_with_apply_upload() {
    let (fake, client) = fake(3600).await;
    let data = b"hello api3".to_vec();
    let (session, held) = session_of(client.start(&request(&data)).await.unwrap());
    assert!(held.is_empty());
    client
        .send_part(&session, part(&session, &data, 0))
        .await
        .unwrap();
    let media = client.finish(&session).await.unwrap();
    assert_eq!(media.file_id, "5285890784000000001");
    assert_eq!(
        media.url.as_deref(),
        Some("http://127.0.0.1/vod/abcd1234/1/f0.mp4")
    );
    let f = fake.lock().unwrap();
    assert_eq!(f.objects["/abcd1234/1/f0.mp4"], data);
    let (action, apply) = &f.calls[0];
    assert_eq!(action, "ApplyUpload");
    assert_eq!(
        apply,
        &json!({"MediaType": "mp4", "MediaName": "clip", "ClassId": 3,
            "SourceContext": "ctx", "SessionContext": "sess ctx",
            "StorageRegion": "ap-guangzhou", "ExpireTime": "2030-01-01T00:00:00Z"})
    );
    assert_eq!(f.calls[1].0, "CommitUpload");
    assert_eq!(f.calls[1].1, json!({"VodSessionKey": "sess-1"}));
    assert_eq!(
        f.cos,
        [("PUT".into(), "/abcd1234/1/f0.mp4".into(), String::new())]
    );
}

#[tokio::test]
async fn a_large_file_is_multipart_resumes_from_listed_parts_and_commits_twice_alike() {
    let (fake, client) = fake(3600).await;
    let data: Vec<u8> = (0..(3 << 20) + 5).map(|i| (i % 251) as u8).collect();
    let req = request(&data);
    let (session, _) = session_of(client.start(&req).await.unwrap());
    assert_eq!(session.part_size, 1 << 20);
    client
        .send_part(&session, part(&session, &data, 2))
        .await
        .unwrap();
    client
        .send_part(&session, part(&session, &data, 0))
        .await
        .unwrap();
    // A restart: the saved session is resumed, the two parts are held.
    let resumed = StartRequest {
        resume: Some(session.clone()),
        ..req.clone()
    };
    let (again, held) = session_of(client.start(&resumed).await.unwrap());
    assert_eq!(again, session);
    let mut offsets: Vec<u64> = held.iter().map(|h| h.offset).collect();
    offsets.sort();
    assert_eq!(offsets, [0, 2 << 20]);
    for i in [1, 3] {
        client
            .send_part(&session, part(&session, &data, i))
            .await
            .unwrap();
    }
    let media = client.finish(&session).await.unwrap();
    // The answer was lost: the retry finds the upload completed and the
    // commit answers the same media.
    let twice = client.finish(&session).await.unwrap();
    assert_eq!(media, twice);
    let f = fake.lock().unwrap();
    assert_eq!(f.objects["/abcd1234/1/f0.mp4"], data);
    assert_eq!(f.calls.iter().filter(|c| c.0 == "ApplyUpload").count(), 1);
}

#[tokio::test]
async fn a_cover_goes_to_its_storage_path_and_its_url_comes_back() {
    let (fake, client) = fake(3600).await;
    let data = b"video".to_vec();
    let mut req = request(&data);
    req.settings.cover = Some(CoverRequest {
        file_name: "cover".into(),
        file_type: "jpg".into(),
        data: Bytes::from_static(b"jpeg bytes"),
        sha1_hex: "0".repeat(40),
    });
    let (session, _) = session_of(client.start(&req).await.unwrap());
    client
        .send_part(&session, part(&session, &data, 0))
        .await
        .unwrap();
    let media = client.finish(&session).await.unwrap();
    assert_eq!(
        media.cover_url.as_deref(),
        Some("http://127.0.0.1/vod/abcd1234/1/cover.jpg")
    );
    let f = fake.lock().unwrap();
    assert_eq!(f.calls[0].1["CoverType"], "jpg");
    assert_eq!(f.objects["/abcd1234/1/cover.jpg"], b"jpeg bytes");
}

#[tokio::test]
async fn a_refused_apply_upload_fails_at_once_naming_code_message_and_parameter() {
    let (fake, client) = fake(3600).await;
    fake.lock().unwrap().apply_error = Some((
        "InvalidParameterValue.ClassId".into(),
        "no such class".into(),
    ));
    let e = client.start(&request(b"x")).await.unwrap_err();
    assert!(!e.is_retryable());
    assert_eq!(
        e.to_string(),
        "ApplyUpload: service code InvalidParameterValue.ClassId: no such class \
         (parameter ClassId = 3) (RequestId req-1)"
    );
    fake.lock().unwrap().apply_error = Some(("RequestLimitExceeded".into(), "slow".into()));
    let e = client.start(&request(b"x")).await.unwrap_err();
    assert!(e.is_retryable() && e.is_throttled());
    fake.lock().unwrap().apply_error = Some(("InternalError".into(), "oops".into()));
    assert!(
        client
            .start(&request(b"x"))
            .await
            .unwrap_err()
            .is_retryable()
    );
    fake.lock().unwrap().apply_error = Some(("AuthFailure.SignatureFailure".into(), "bad".into()));
    assert!(
        !client
            .start(&request(b"x"))
            .await
            .unwrap_err()
            .is_retryable()
    );
}

#[tokio::test]
async fn an_expiring_credential_asks_for_a_new_session_and_is_never_resumed() {
    let (fake, client) = fake(0).await;
    let data: Vec<u8> = vec![7; (1 << 20) + 1];
    // Multipart initiation already needs the credential: it has run out.
    let e = client.start(&request(&data)).await.unwrap_err();
    assert!(e.is_session_expired(), "{e}");
    // A one-part file: the PUT is refused before it is sent.
    let small = b"tiny".to_vec();
    let (session, _) = session_of(client.start(&request(&small)).await.unwrap());
    let e = client
        .send_part(&session, part(&session, &small, 0))
        .await
        .unwrap_err();
    assert!(e.is_session_expired(), "{e}");
    assert!(!e.is_retryable());
    // The saved session is not resumed (nor committed: its object is not
    // there): a new one is applied for.
    let applies = |f: &Shared| {
        f.lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.0 == "ApplyUpload")
            .count()
    };
    let before = applies(&fake);
    let req = StartRequest {
        resume: Some(session.clone()),
        ..request(&small)
    };
    let (fresh, _) = session_of(client.start(&req).await.unwrap());
    assert_ne!(fresh.token, session.token);
    assert_eq!(applies(&fake), before + 1);
    assert!(fake.lock().unwrap().cos.is_empty());
}

#[test]
fn margin_is_a_tenth_of_the_lifetime_within_bounds() {
    let c = |life: u64| TempCred {
        secret_id: String::new(),
        secret_key: String::new(),
        token: String::new(),
        expired_time: 1000 + life,
        issued: 1000,
    };
    assert_eq!(c(3600).margin(), 60);
    assert_eq!(c(300).margin(), 30);
    assert_eq!(c(5).margin(), 1);
    assert!(c(300).usable(1000 + 269));
    assert!(!c(300).usable(1000 + 270));
    let tok = Token {
        session_key: "secret-session".into(),
        cos_host: "h".into(),
        key: "/k".into(),
        upload_id: None,
        cred: Some(c(10)),
    };
    assert!(!format!("{tok:?}").contains("secret-session"));
}

#[tokio::test]
async fn a_saved_session_that_was_committed_answers_its_media_on_resume() {
    let (fake, client) = fake(3600).await;
    let small = b"committed before the kill".to_vec();
    let (session, _) = session_of(client.start(&request(&small)).await.unwrap());
    client
        .send_part(&session, part(&session, &small, 0))
        .await
        .unwrap();
    let media = client.finish(&session).await.unwrap();
    // The answer was never recorded: the restarted mount resumes the session.
    let req = StartRequest {
        resume: Some(session.clone()),
        ..request(&small)
    };
    match client.start(&req).await.unwrap() {
        Started::Complete { media: again, .. } => assert_eq!(again, media),
        other => panic!("resumed as {other:?}"),
    }
    let f = fake.lock().unwrap();
    assert_eq!(f.calls.iter().filter(|c| c.0 == "ApplyUpload").count(), 1);
}
