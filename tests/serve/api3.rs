//! API 3.0 over HTTP without the SDKs (those are `tests/sdk`): every
//! signature vector of protocol-api3.md §1.6 sent as is and accepted by the
//! server (the verifier side of the vectors), the Host-without-port rule,
//! the exact answer shape, routing beside the media page, rate limits and
//! faults, restart safety of sessions, and the COS endpoint's temporary
//! credential rules.

use serde_json::{Value, json};
use vodfs::server::ServerConfig;
use vodfs::vod::sign::cos_authorization;
use vodfs::vod::sign::tc3::{Tc3Request, authorization};

use crate::common::*;

const VID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
const VKEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

/// A service holding the vectors' account, accepting their old timestamps.
async fn vector_server() -> TestServer {
    TestServer::start_temp(|c: &mut ServerConfig| {
        c.extra_accounts.push(vodfs::server::Account {
            secret_id: VID.into(),
            secret_key: VKEY.into(),
            app_id: 1_250_000_001,
        });
        c.replay_window_secs = 4_000_000_000;
    })
    .await
}

/// Sends a request as given; `(status, content-type, body)`.
async fn send(
    s: &TestServer,
    method: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Value) {
    let url = if query.is_empty() {
        s.url("/")
    } else {
        s.url(&format!("/?{query}"))
    };
    let mut r = s
        .http
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
        .body(body.to_vec());
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.expect("send");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        ct,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn code(v: &Value) -> &str {
    v["Response"]["Error"]["Code"].as_str().unwrap_or("")
}

fn tc3_headers<'a>(
    action: &'a str,
    ts: &'a str,
    host: &'a str,
    ct: &'a str,
    auth: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Host", host),
        ("Content-Type", ct),
        ("X-TC-Action", action),
        ("X-TC-Version", "2018-07-17"),
        ("X-TC-Timestamp", ts),
        ("X-TC-Region", "ap-guangzhou"),
        ("Authorization", auth),
    ]
}

fn vector_auth(sig: &str, date: &str) -> String {
    format!(
        "TC3-HMAC-SHA256 Credential={VID}/{date}/vod/tc3_request, SignedHeaders=content-type;host, Signature={sig}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signature_vector_is_accepted_as_sent() {
    let s = vector_server().await;
    // V1: Python POST ApplyUpload.
    let body = br#"{"MediaType": "mp4", "MediaName": "\u6d4b\u8bd5 video", "SubAppId": 1500000001, "Procedure": "LongVideoPreset"}"#;
    let auth = vector_auth(
        "bb99f039cdbb5b337a5ed80bd49995c2371e7c60394bfceb954d951cfbbb262c",
        "2023-11-14",
    );
    let h = tc3_headers(
        "ApplyUpload",
        "1700000000",
        "vod.tencentcloudapi.com",
        "application/json",
        &auth,
    );
    let (st, ct, v) = send(&s, "POST", "", &h, body).await;
    assert_eq!((st, ct.as_str()), (200, "application/json"));
    assert!(v["Response"]["VodSessionKey"].is_string(), "V1: {v}");
    // The same request with one byte changed is refused.
    let (_, _, v) = {
        let changed = String::from_utf8_lossy(body).replace("mp4", "mov");
        send(&s, "POST", "", &h, changed.as_bytes()).await
    };
    assert_eq!(code(&v), "AuthFailure.SignatureFailure", "{v}");

    // V2: Python GET CommitUpload (the key is unknown here: the signature
    // passed, the action answered).
    let q =
        "VodSessionKey=3KEGq9DWHl1xF819mM4jVFkGn5WON80N%2FrTrx56U%2BoEF%3D%3D&SubAppId=1500000001";
    let auth = vector_auth(
        "830d7cd7e4eb11e28f1048a6253f00f1b21d47147dbabbe7918cbf94f15a75be",
        "2023-11-14",
    );
    let h = tc3_headers(
        "CommitUpload",
        "1700000000",
        "vod.tencentcloudapi.com",
        "application/x-www-form-urlencoded",
        &auth,
    );
    let (_, _, v) = send(&s, "GET", q, &h, b"").await;
    assert_eq!(code(&v), "InvalidParameterValue.VodSessionKey", "V2: {v}");

    // V3: Host with a port, signed as is; X-TC-Token is not signed.
    let body = br#"{"FileIds": ["5285890784000000001", "5285890784000000002"], "Filters": ["basicInfo", "metaData"]}"#;
    let auth = vector_auth(
        "4b48ea49aa87103fcace28f6776fd29fcfa02a8e8a93f8986e45f0a11d93df7e",
        "2024-05-31",
    );
    let mut h = tc3_headers(
        "DescribeMediaInfos",
        "1717171717",
        "127.0.0.1:18931",
        "application/json",
        &auth,
    );
    h.push(("X-TC-Token", "tmp-token+/="));
    let (_, _, v) = send(&s, "POST", "", &h, body).await;
    assert_eq!(
        v["Response"]["NotExistFileIdSet"],
        json!(["5285890784000000001", "5285890784000000002"]),
        "V3: {v}"
    );

    // V4: Node sign3 signs the host without the port; sent with one, the
    // second try (port stripped) matches.
    let body = r#"{"MediaType":"mp4","MediaName":"测试 video","SubAppId":1500000001,"ClassId":0}"#;
    let auth = vector_auth(
        "a0568bdddfb695527f6a88ae7a76c9e05c86ac419e4c4dda23a6e64ba3d5a442",
        "2023-11-14",
    );
    let h = tc3_headers(
        "ApplyUpload",
        "1700000000",
        "vod.tencentcloudapi.com:443",
        "application/json",
        &auth,
    );
    let (_, _, v) = send(&s, "POST", "", &h, body.as_bytes()).await;
    assert!(v["Response"]["VodSessionKey"].is_string(), "V4: {v}");

    // V5: signature v1, HmacSHA256, a form POST.
    let form = "VodSessionKey=sess%2Bkey%2F1%3D&SubAppId=1500000001&Action=CommitUpload&RequestClient=SDK_PYTHON_3.1.195&Nonce=11886&Timestamp=1700000000&Version=2018-07-17&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&SignatureMethod=HmacSHA256&Language=zh-CN&Signature=xyjukdegUT4fojozFATG0pesq8VgQsQqcMEDySKD4QQ%3D";
    let h = [
        ("Host", "vod.tencentcloudapi.com"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let (_, _, v) = send(&s, "POST", "", &h, form.as_bytes()).await;
    assert_eq!(code(&v), "InvalidParameterValue.VodSessionKey", "V5: {v}");
    // The same nonce again is a replay.
    let (_, _, v) = send(&s, "POST", "", &h, form.as_bytes()).await;
    assert_eq!(code(&v), "AuthFailure.SignatureFailure", "V5 replayed: {v}");
}

/// Signs and sends an API 3.0 call as the test account.
pub(super) async fn call(s: &TestServer, action: &str, params: Value) -> Value {
    call_as(s, action, params, &s.host(), &s.host(), "vod").await
}

/// The same, with the Host header sent, the host signed and the scope's
/// service chosen.
async fn call_as(
    s: &TestServer,
    action: &str,
    params: Value,
    host: &str,
    signed_host: &str,
    service: &str,
) -> Value {
    let body = params.to_string();
    let ts = now().to_string();
    let headers = [("content-type", "application/json"), ("host", signed_host)];
    let req = Tc3Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        payload: body.as_bytes(),
        unsigned_payload: false,
        timestamp: ts.parse().unwrap(),
        service,
    };
    let auth = authorization(SECRET_ID, SECRET_KEY, &req);
    let h = tc3_headers(action, &ts, host, "application/json", &auth);
    let (st, ct, v) = send(s, "POST", "", &h, body.as_bytes()).await;
    assert_eq!((st, ct.as_str()), (200, "application/json"), "{v}");
    assert!(v["Response"]["RequestId"].is_string(), "{v}");
    v["Response"].clone()
}

fn err(v: &Value) -> &str {
    v["Error"]["Code"].as_str().unwrap_or("")
}

/// A COS PUT of `body` to `key_path` signed with a temporary credential
/// (or not); `(status, body)`.
pub(super) async fn cos_put(
    s: &TestServer,
    apply: &Value,
    key_path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let c = &apply["TempCertificate"];
    let host = format!(
        "{}.cos.{}.myqcloud.com",
        apply["StorageBucket"].as_str().unwrap(),
        apply["StorageRegion"].as_str().unwrap()
    );
    let mut headers = vec![("host".to_string(), host.clone())];
    if let Some(t) = token {
        headers.push(("x-cos-security-token".to_string(), t.to_string()));
    }
    let auth = cos_authorization(
        c["SecretId"].as_str().unwrap(),
        c["SecretKey"].as_str().unwrap(),
        (now() - 60, now() + 600),
        "PUT",
        key_path,
        &[],
        &headers,
    );
    let mut r = s
        .http
        .put(s.url(key_path))
        .header("Host", &host)
        .header("Authorization", auth)
        .body(body.to_vec());
    if let Some(t) = token {
        r = r.header("x-cos-security-token", t);
    }
    let resp = r.send().await.expect("cos put");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_and_commit_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let a = call(
        &s,
        "ApplyUpload",
        json!({"MediaType": "mp4", "MediaName": "restart"}),
    )
    .await;
    let key = a["VodSessionKey"].as_str().unwrap().to_string();
    let path = a["MediaStoragePath"].as_str().unwrap().to_string();
    s.kill();
    let s = TestServer::start(dir.path()).await;
    let token = a["TempCertificate"]["Token"].as_str().unwrap();
    let bytes = random_bytes(5000, 3);
    let (st, text) = cos_put(&s, &a, &path, Some(token), &bytes).await;
    assert_eq!(st, 200, "the credential outlives the restart: {text}");
    let c = call(&s, "CommitUpload", json!({"VodSessionKey": key})).await;
    let file_id = c["FileId"].as_str().unwrap().to_string();
    s.kill();
    let s = TestServer::start(dir.path()).await;
    let again = call(&s, "CommitUpload", json!({"VodSessionKey": key})).await;
    assert_eq!(again["FileId"], file_id.as_str(), "{again}");
    assert_eq!(again["MediaUrl"], c["MediaUrl"]);
    let m = s.admin(&format!("/admin/media/{file_id}")).await;
    assert_eq!(
        (m["flow"].as_str(), m["size"].as_u64()),
        (Some("api3"), Some(5000))
    );
    let page = s
        .http
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("restart"), "the media page lists it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_credentials_are_scoped_timed_and_need_their_token() {
    let s = TestServer::start_temp(|_| {}).await;
    let a = call(
        &s,
        "ApplyUpload",
        json!({"MediaType": "mp4", "CoverType": "png"}),
    )
    .await;
    let b = call(&s, "ApplyUpload", json!({"MediaType": "mp4"})).await;
    let token = a["TempCertificate"]["Token"].as_str().unwrap();
    let path = a["MediaStoragePath"].as_str().unwrap();
    let has_all = |xml: &str| {
        ["<Code>", "<Message>", "<Resource>", "<RequestId>"]
            .iter()
            .all(|t| xml.contains(t))
    };
    let (st, xml) = cos_put(&s, &a, path, None, b"x").await;
    assert!(
        st == 403 && xml.contains("InvalidAccessKeyId") && has_all(&xml),
        "{xml}"
    );
    let other = b["MediaStoragePath"].as_str().unwrap();
    let (st, xml) = cos_put(&s, &a, other, Some(token), b"x").await;
    assert!(
        st == 403 && xml.contains("AccessDenied") && has_all(&xml),
        "{xml}"
    );
    let cover = a["CoverStoragePath"].as_str().unwrap();
    assert_eq!(cos_put(&s, &a, cover, Some(token), b"png").await.0, 200);
    assert_eq!(cos_put(&s, &a, path, Some(token), b"mp4").await.0, 200);
    let r = s
        .http
        .post(s.url("/admin/expire-credentials"))
        .header("X-Vodfs-Admin", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, xml) = cos_put(&s, &a, path, Some(token), b"x").await;
    assert!(
        st == 403 && xml.contains("ExpiredToken") && has_all(&xml),
        "{xml}"
    );
    // What was sent in time still commits.
    let c = call(
        &s,
        "CommitUpload",
        json!({"VodSessionKey": a["VodSessionKey"]}),
    )
    .await;
    assert!(c["CoverUrl"].is_string(), "{c}");

    // A lifetime set at run time is the next credentials'.
    let r = s
        .http
        .put(s.url("/admin/temp-credential-ttl"))
        .header("X-Vodfs-Admin", "1")
        .body("30")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d = call(&s, "ApplyUpload", json!({"MediaType": "mp4"})).await;
    let exp = d["TempCertificate"]["ExpiredTime"].as_u64().unwrap();
    assert!((now() + 25..=now() + 31).contains(&exp), "{exp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_per_second_and_faults_answer_the_api3_way() {
    let s = TestServer::start_temp(|c: &mut ServerConfig| {
        c.rate_limits
            .per_action
            .insert("api3.ApplyUpload".into(), 1);
    })
    .await;
    // Two calls in the same second: the second is over the quota (retry
    // the pair if a second boundary fell between them).
    let mut limited = false;
    for _ in 0..5 {
        let t = now();
        let first = call(&s, "ApplyUpload", json!({"MediaType": "mp4"})).await;
        let second = call(&s, "ApplyUpload", json!({"MediaType": "mp4"})).await;
        if now() == t {
            assert!(err(&first).is_empty() || err(&first) == "RequestLimitExceeded");
            limited = err(&second) == "RequestLimitExceeded";
            break;
        }
    }
    assert!(limited, "the second ApplyUpload of a second is refused");
    s.set_faults("rate=1,kinds=5xx,actions=CommitUpload").await;
    let (st, _, _) = send(&s, "POST", "", &[("X-TC-Action", "CommitUpload")], b"{}").await;
    assert_eq!(st, 503);
    s.set_faults("rate=1,kinds=negative,actions=DescribeMediaInfos")
        .await;
    let v = call(&s, "DescribeMediaInfos", json!({"FileIds": ["1"]})).await;
    assert_eq!(err(&v), "InternalError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_media_page_stays_and_strangers_get_api3_errors() {
    let s = TestServer::start_temp(|_| {}).await;
    let page = s.http.get(s.url("/")).send().await.unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let (st, ct, v) = send(
        &s,
        "GET",
        "Action=ApplyUpload&Version=2018-07-17&MediaType=mp4",
        &[],
        b"",
    )
    .await;
    assert_eq!((st, ct.as_str()), (200, "application/json"));
    assert_eq!(code(&v), "AuthFailure.InvalidAuthorization", "{v}");
    let (_, _, v) = send(
        &s,
        "POST",
        "",
        &[("Authorization", "TC3-HMAC-SHA256 nonsense")],
        b"{}",
    )
    .await;
    assert_eq!(code(&v), "AuthFailure.InvalidAuthorization", "{v}");
    let big = vec![b' '; 2 << 20];
    let (_, _, v) = send(&s, "POST", "", &[("X-TC-Action", "ApplyUpload")], &big).await;
    assert_eq!(code(&v), "RequestSizeLimitExceeded", "{v}");
    let stats = s.admin("/admin/stats").await;
    assert!(
        stats["actions"]["api3:unknown"]["requests"]
            .as_u64()
            .is_some(),
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_and_services_as_each_sdk_signs_them() {
    let s = TestServer::start_temp(|_| {}).await;
    let apply = json!({"MediaType": "mp4"});
    let host = s.host();
    // Node's sign3: the hostname without the port, service `127` for an IP.
    let v = call_as(&s, "ApplyUpload", apply.clone(), &host, "127.0.0.1", "127").await;
    assert!(v["VodSessionKey"].is_string(), "{v}");
    // tccli --endpoint http://127.0.0.1:P sends and signs that literally.
    let literal = format!("http://{host}");
    let v = call_as(&s, "ApplyUpload", apply.clone(), &literal, &literal, "vod").await;
    assert!(v["VodSessionKey"].is_string(), "{v}");
    // Another host than the one sent is refused.
    let v = call_as(
        &s,
        "ApplyUpload",
        apply,
        &host,
        "vod.tencentcloudapi.com",
        "vod",
    )
    .await;
    assert_eq!(err(&v), "AuthFailure.SignatureFailure", "{v}");
    // Signed (correctly) for a Host this service does not answer to: a
    // request captured for another service is refused here (issue 14).
    let v = call_as(
        &s,
        "ApplyUpload",
        json!({"MediaType": "mp4"}),
        "evil.example",
        "evil.example",
        "vod",
    )
    .await;
    assert_eq!(err(&v), "AuthFailure.SignatureFailure", "{v}");
    assert!(v.to_string().contains("does not answer to"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_was_lost_gives_the_same_media_again() {
    let s = TestServer::start_temp(|_| {}).await;
    let a = call(&s, "ApplyUpload", json!({"MediaType": "mp4"})).await;
    let path = a["MediaStoragePath"].as_str().unwrap();
    let token = a["TempCertificate"]["Token"].as_str().unwrap();
    assert_eq!(cos_put(&s, &a, path, Some(token), b"lost").await.0, 200);
    s.set_faults("rate=1,kinds=drop,actions=CommitUpload").await;
    // The commit happens; its answer is cut mid-body.
    let body = json!({"VodSessionKey": a["VodSessionKey"]}).to_string();
    let ts = now().to_string();
    let host = s.host();
    let headers = [
        ("content-type", "application/json"),
        ("host", host.as_str()),
    ];
    let req = Tc3Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        payload: body.as_bytes(),
        unsigned_payload: false,
        timestamp: ts.parse().unwrap(),
        service: "vod",
    };
    let auth = authorization(SECRET_ID, SECRET_KEY, &req);
    let mut r = s.http.post(s.url("/")).body(body.clone());
    for (k, v) in tc3_headers("CommitUpload", &ts, &host, "application/json", &auth) {
        r = r.header(k, v);
    }
    let cut = match r.send().await {
        Ok(resp) => resp.text().await.is_err(),
        Err(_) => true,
    };
    assert!(cut, "the answer was dropped");
    s.set_faults("off").await;
    let media = s.admin("/admin/media").await;
    assert_eq!(media.as_array().unwrap().len(), 1, "the media exists");
    let again = call(
        &s,
        "CommitUpload",
        json!({"VodSessionKey": a["VodSessionKey"]}),
    )
    .await;
    assert_eq!(again["FileId"], media[0]["fileId"], "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_media_infos_shows_every_flows_media_with_its_mp4_metadata() {
    let s = TestServer::start_temp(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let mp4 = std::fs::read(make_mp4(dir.path(), "a.mp4", 2)).unwrap();
    let fin = s.upload_a("older flow", "mp4", &mp4, 524_288).await;
    let id = fin["fileId"].as_str().unwrap();
    let v = call(&s, "DescribeMediaInfos", json!({"FileIds": [id, "0"]})).await;
    let info = &v["MediaInfoSet"][0];
    assert_eq!(info["BasicInfo"]["Name"], "older flow", "{v}");
    assert_eq!(info["BasicInfo"]["Category"], "Video");
    assert_eq!(info["MetaData"]["Size"], mp4.len());
    assert_eq!(
        (
            info["MetaData"]["Width"].as_u64(),
            info["MetaData"]["Height"].as_u64()
        ),
        (Some(320), Some(240))
    );
    let d = info["MetaData"]["Duration"].as_f64().unwrap();
    assert!((1.8..2.2).contains(&d), "{d}");
    assert_eq!(v["NotExistFileIdSet"], json!(["0"]));
    assert!(info["TranscodeInfo"].is_null());
    // GET with dotted names, as Python sends it.
    let q = format!("FileIds.0={id}&Filters.0=metaData");
    let ts = now().to_string();
    let host = s.host();
    let ct = "application/x-www-form-urlencoded";
    let headers = [("content-type", ct), ("host", host.as_str())];
    let req = Tc3Request {
        method: "GET",
        path: "/",
        query: &q,
        headers: &headers,
        payload: b"",
        unsigned_payload: false,
        timestamp: ts.parse().unwrap(),
        service: "vod",
    };
    let auth = authorization(SECRET_ID, SECRET_KEY, &req);
    let h = tc3_headers("DescribeMediaInfos", &ts, &host, ct, &auth);
    let (_, _, v) = send(&s, "GET", &q, &h, b"").await;
    let info = &v["Response"]["MediaInfoSet"][0];
    assert!(
        info["BasicInfo"].is_null() && info["MetaData"]["Size"] == mp4.len(),
        "{v}"
    );
}
