//! The v4 client and the pipeline over real HTTP against scripted services.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use vodfs::upload::fake::FakeFlow;
use vodfs::upload::hash::{md5, sha1_hex};
use vodfs::upload::{
    MemorySource, NoObserver, PaceLimits, RetryPolicy, UploadError, UploadJob, Uploader,
    UploaderConfig,
};
use vodfs::vod::v4::{Credentials, V4Client, V4Config};
use vodfs::vod::{StartRequest, Started, UploadFlow, VodErrorKind};

use super::data;
use super::fake_http::v4_service;
use super::scripted::{self, Scripted, Seen};
use crate::common::{SECRET_ID, SECRET_KEY};

const PS: u32 = 524_288;

fn client(url: &str, key: &str) -> Arc<V4Client> {
    let mut cfg = V4Config::new(url);
    cfg.timeouts.stall = Duration::from_secs(10);
    Arc::new(V4Client::new(cfg, Credentials::new(SECRET_ID, key)).unwrap())
}

fn uploader(flow: Arc<dyn UploadFlow>) -> Uploader {
    uploader_giving_up_after(flow, Duration::from_secs(3))
}

/// An uploader whose retries of a transient failure stop after `limit`.
fn uploader_giving_up_after(flow: Arc<dyn UploadFlow>, limit: Duration) -> Uploader {
    Uploader::new(
        flow,
        UploaderConfig {
            retry: RetryPolicy {
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
                waiting_after: 3,
                give_up_after: Some(limit),
            },
            pace: PaceLimits::default(),
        },
    )
}

fn job() -> UploadJob {
    UploadJob {
        part_size: PS,
        ..UploadJob::for_file_name(std::ffi::OsStr::new("测试 clip.mp4"))
    }
}

async fn upload(up: &Uploader, content: &Bytes) -> Result<vodfs::upload::Committed, UploadError> {
    up.upload(
        Arc::new(MemorySource(content.clone())),
        &job(),
        &NoObserver,
        &CancellationToken::new(),
    )
    .await
}

#[tokio::test]
async fn every_call_is_a_signed_post_with_raw_part_bodies() {
    let flow = Arc::new(FakeFlow::new());
    let srv = Scripted::start(v4_service(flow.clone())).await;
    let up = uploader(client(&srv.url(), SECRET_KEY));
    let content = data(PS as usize + 10, 1);
    let c = upload(&up, &content).await.unwrap();
    assert_eq!(flow.content(&c.file_id).unwrap(), content.to_vec());
    let seen = srv.seen();
    assert_eq!(
        srv.actions(),
        ["InitUpload", "UploadPart", "UploadPart", "FinishUpload"]
    );
    let mut nonces = std::collections::HashSet::new();
    for s in &seen {
        assert!(s.signed_ok, "{} not signed right", s.action());
        assert_eq!(s.method, "POST");
        assert_eq!(s.path, "/v3/index.php");
        assert_eq!(s.host, srv.addr.to_string());
        assert_eq!(s.param("SignatureMethod"), Some("HmacSHA256"));
        assert_eq!(s.param("SecretId"), Some(SECRET_ID));
        assert_eq!(s.param("fileSha"), Some(sha1_hex(&content).as_str()));
        assert!(nonces.insert(s.param("Nonce").unwrap().to_string()));
    }
    let init = &seen[0];
    assert_eq!(init.param("fileName"), Some("测试 clip"));
    assert_eq!(init.param("fileType"), Some("mp4"));
    assert_eq!(
        init.param("fileSize"),
        Some(content.len().to_string().as_str())
    );
    assert_eq!(init.param("dataSize"), Some("524288"));
    assert!(init.body.is_empty());
    let mut parts: Vec<&Seen> = seen.iter().filter(|s| s.action() == "UploadPart").collect();
    parts.sort_by_key(|s| s.param("offset").unwrap().parse::<u64>().unwrap());
    assert_eq!(parts[1].param("offset"), Some("524288"));
    assert_eq!(parts[1].param("dataSize"), Some("10"));
    assert_eq!(parts[1].body, content.slice(PS as usize..));
    assert_eq!(
        parts[1].param("dataMd5"),
        Some(hex::encode(md5(&content[PS as usize..])).as_str())
    );
    assert_eq!(
        parts[0].headers.get("content-type").unwrap(),
        "application/octet-stream"
    );
}

#[tokio::test]
async fn sizes_around_part_boundaries_and_several_megabytes() {
    let flow = Arc::new(FakeFlow::new());
    let srv = Scripted::start(v4_service(flow.clone())).await;
    let up = uploader(client(&srv.url(), SECRET_KEY));
    let ps = PS as usize;
    for (i, len) in [0, 1, ps - 1, ps, ps + 1, 5 * 1024 * 1024 + 3]
        .into_iter()
        .enumerate()
    {
        let content = data(len, i as u8);
        let c = upload(&up, &content).await.unwrap();
        assert_eq!(c.bytes_sent, len as u64);
        assert_eq!(
            flow.content(&c.file_id).unwrap(),
            content.to_vec(),
            "len {len}"
        );
        assert!(url::Url::parse(c.url.as_deref().unwrap()).is_ok());
    }
}

#[tokio::test]
async fn instant_upload_calls_finish_and_keeps_the_file_id() {
    let flow = Arc::new(FakeFlow::new());
    let srv = Scripted::start(v4_service(flow.clone())).await;
    let up = uploader(client(&srv.url(), SECRET_KEY));
    let content = data(1000, 3);
    let first = upload(&up, &content).await.unwrap();
    let before = srv.seen().len();
    let second = upload(&up, &content).await.unwrap();
    assert!(second.instant);
    assert_eq!(second.file_id, first.file_id);
    let after: Vec<String> = srv.actions()[before..].to_vec();
    assert_eq!(after, ["InitUpload", "FinishUpload"]);
}

#[tokio::test]
async fn resume_adopts_the_service_part_size_and_sends_only_what_is_missing() {
    let flow = Arc::new(FakeFlow::new());
    let content = data(3 * PS as usize + 7, 4);
    let sha = sha1_hex(&content);
    flow.preload(
        &sha,
        content.len() as u64,
        PS,
        0,
        content.slice(..PS as usize),
    );
    flow.preload(
        &sha,
        content.len() as u64,
        PS,
        2 * PS as u64,
        data(PS as usize, 99),
    );
    let srv = Scripted::start(v4_service(flow.clone())).await;
    let up = uploader(client(&srv.url(), SECRET_KEY));
    let mut j = job();
    j.part_size = 1_048_576;
    let c = up
        .upload(
            Arc::new(MemorySource(content.clone())),
            &j,
            &NoObserver,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(c.parts_sent, 3);
    let mut offsets: Vec<String> = srv
        .seen()
        .iter()
        .filter(|s| s.action() == "UploadPart")
        .map(|s| s.param("offset").unwrap().to_string())
        .collect();
    offsets.sort();
    assert_eq!(offsets, ["1048576", "1572864", "524288"]);
    assert_eq!(flow.content(&c.file_id).unwrap(), content.to_vec());
}

#[tokio::test]
async fn wrong_credentials_name_auth_failure_with_the_service_message() {
    let flow = Arc::new(FakeFlow::new());
    let srv = Scripted::start(v4_service(flow)).await;
    let up = uploader(client(&srv.url(), "wrong key"));
    let e = upload(&up, &data(10, 0)).await.unwrap_err();
    assert_eq!(e.code(), Some(-10002));
    assert_eq!(
        e.to_string(),
        "InitUpload: service code -10002 (AuthFailure): signature check failed"
    );
    assert!(!e.to_string().contains("wrong key"));
    assert_eq!(srv.actions(), ["InitUpload"], "not retried");
}

fn init_req(size: u64) -> StartRequest {
    StartRequest {
        file_name: "x".into(),
        file_type: "mp4".into(),
        file_size: size,
        sha1_hex: sha1_hex(b"abc"),
        part_size: PS,
        settings: Default::default(),
        resume: None,
    }
}

#[tokio::test]
async fn a_file_id_that_changes_between_init_and_finish_is_an_error() {
    let srv = Scripted::start(scripted::json(|s| match s.action() {
        "InitUpload" => json!({"code": 2, "fileId": "111", "url": "http://h/111/f0.mp4"}),
        _ => json!({"code": 0, "fileId": "222", "url": "http://h/222/f0.mp4"}),
    }))
    .await;
    let e = client(&srv.url(), SECRET_KEY)
        .start(&init_req(3))
        .await
        .unwrap_err();
    assert_eq!(e.action, "FinishUpload");
    assert!(e.to_string().contains("fileId changed from 111"), "{e}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn code_one_with_data_sha_keys_is_understood() {
    let srv = Scripted::start(scripted::json(|_| {
        json!({"code": 1, "dataSize": 1048576, "listParts": [
            {"offset": 0, "dataSize": 1048576, "dataSha": "900150983CD24FB0D6963F7D28E17F72"}]})
    }))
    .await;
    let st = client(&srv.url(), SECRET_KEY)
        .start(&init_req(2_000_000))
        .await
        .unwrap();
    let Started::Upload {
        session,
        held,
        resumed,
    } = st
    else {
        panic!("not an upload: {st:?}");
    };
    assert!(resumed);
    assert_eq!(session.part_size, 1_048_576);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].md5_hex, "900150983cd24fb0d6963f7d28e17f72");
}

#[tokio::test]
async fn garbage_answers_are_errors_not_panics() {
    let cases: [(&str, u16, &'static str); 7] = [
        ("not json", 200, "<html>oops</html>"),
        ("not an object", 200, "[1]"),
        ("code mistyped", 200, r#"{"code":"0"}"#),
        ("no fileId", 200, r#"{"code":2,"url":"http://h/x"}"#),
        ("bad url", 200, r#"{"code":2,"fileId":"1","url":"::nope"}"#),
        ("unknown code", 200, r#"{"code":7}"#),
        ("404 page", 404, "not found"),
    ];
    for (what, status, body) in cases {
        let calls = Arc::new(AtomicU32::new(0));
        let calls2 = calls.clone();
        let srv = Scripted::start(Arc::new(move |_s: Seen| {
            calls2.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { (status, HeaderMap::new(), Bytes::from(body)) })
        }))
        .await;
        let up =
            uploader_giving_up_after(client(&srv.url(), SECRET_KEY), Duration::from_millis(15));
        let e = upload(&up, &data(5, 0)).await.unwrap_err();
        assert!(e.to_string().starts_with("InitUpload: "), "{what}: {e}");
        let kind = e.vod_kind().unwrap();
        let retryable = matches!(
            kind,
            VodErrorKind::BadResponse {
                retryable: true,
                ..
            }
        );
        // Unreadable bodies are retried (until the policy's time runs
        // out), the rest fail at once.
        let n = calls.load(Ordering::SeqCst);
        if retryable {
            assert!(n >= 2, "{what}: {n} calls: {e}");
        } else {
            assert_eq!(n, 1, "{what}: {e}");
        }
    }
}

#[tokio::test]
async fn server_errors_and_throttling_are_retried_then_succeed() {
    let flow = Arc::new(FakeFlow::new());
    let inner = v4_service(flow.clone());
    let n = Arc::new(AtomicU32::new(0));
    let n2 = n.clone();
    let srv = Scripted::start(Arc::new(move |s: Seen| {
        let i = n2.fetch_add(1, Ordering::SeqCst);
        let inner = inner.clone();
        Box::pin(async move {
            match i {
                0 => (503, HeaderMap::new(), Bytes::from("busy")),
                1 => (
                    200,
                    HeaderMap::new(),
                    Bytes::from(r#"{"code":4400,"message":"请求超过限额配置，请稍后重试。","codeDesc":"RequestLimitExceeded"}"#),
                ),
                2 => (200, HeaderMap::new(), Bytes::from(r#"{"code":-10004,"message":"x","canRetry":1}"#)),
                _ => inner(s).await,
            }
        })
    }))
    .await;
    let up = uploader(client(&srv.url(), SECRET_KEY));
    let content = data(100, 5);
    let c = upload(&up, &content).await.unwrap();
    assert_eq!(flow.content(&c.file_id).unwrap(), content.to_vec());
    assert_eq!(
        srv.actions(),
        [
            "InitUpload",
            "InitUpload",
            "InitUpload",
            "InitUpload",
            "UploadPart",
            "FinishUpload"
        ]
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_error_without_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = client(&format!("http://{addr}"), SECRET_KEY)
        .start(&init_req(3))
        .await
        .unwrap_err();
    assert!(matches!(e.kind, VodErrorKind::Transport { .. }), "{e}");
    assert!(e.is_retryable());
    assert!(!e.to_string().contains("Signature"), "{e}");
}

#[tokio::test]
async fn ugc_flow_sends_one_signature_for_all_calls_and_no_secret() {
    use vodfs::vod::ugc::LocalSigner;
    let flow = Arc::new(FakeFlow::new());
    let srv = Scripted::start(v4_service(flow.clone())).await;
    let signer = Arc::new(LocalSigner::new(vodfs::vod::Credentials::new(
        SECRET_ID, SECRET_KEY,
    )));
    let cl = Arc::new(V4Client::ugc(V4Config::new(srv.url()), signer).unwrap());
    assert_eq!(cl.name(), "ugc-ex");
    let up = uploader(cl);
    let content = data(PS as usize + 1, 6);
    let c = upload(&up, &content).await.unwrap();
    assert_eq!(flow.content(&c.file_id).unwrap(), content.to_vec());
    assert_eq!(
        srv.actions(),
        [
            "InitUploadEx",
            "UploadPartEx",
            "UploadPartEx",
            "FinishUploadEx"
        ]
    );
    let seen = srv.seen();
    let sig = seen[0].param("signature").unwrap().to_string();
    for s in &seen {
        assert_eq!(s.param("signature"), Some(sig.as_str()));
        assert!(s.param("SecretId").is_none());
        assert!(s.params.iter().all(|(_, v)| !v.contains(SECRET_KEY)));
    }
    let env = vodfs::vod::sign::UgcEnvelope::decode(&sig).unwrap();
    assert_eq!(env.field("f").as_deref(), Some("测试 clip"));
    assert_eq!(env.field("ft").as_deref(), Some("mp4"));
    // A signer with the wrong key: the service's -10002, not retried.
    let bad = Arc::new(LocalSigner::new(vodfs::vod::Credentials::new(
        SECRET_ID, "nope",
    )));
    let up = uploader(Arc::new(
        V4Client::ugc(V4Config::new(srv.url()), bad).unwrap(),
    ));
    let e = upload(&up, &data(3, 1)).await.unwrap_err();
    assert_eq!(e.code(), Some(-10002), "{e}");
    assert!(e.to_string().starts_with("InitUploadEx: "), "{e}");
}
