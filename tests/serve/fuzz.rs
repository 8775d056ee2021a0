//! Property tests over HTTP: random queries and bodies to every endpoint
//! never crash the service and always get a documented error shape.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use crate::common::*;

const DOCUMENTED: &[i64] = &[
    0, 1, 2, -10001, -10002, -10003, -10004, -10005, -10006, 4000, 4100, 4104, 4400, 4500, 5000,
    6000, 31001, 32001,
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Action".to_string()),
        Just("fileSha".to_string()),
        Just("fileSize".to_string()),
        Just("dataSize".to_string()),
        Just("offset".to_string()),
        Just("dataMd5".to_string()),
        Just("fileName".to_string()),
        Just("fileType".to_string()),
        Just("signature".to_string()),
        Just("SecretId".to_string()),
        Just("Timestamp".to_string()),
        Just("Nonce".to_string()),
        Just("vodSessionKey".to_string()),
        "[a-zA-Z._]{1,8}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("InitUpload".to_string()),
        Just("UploadPart".to_string()),
        Just("FinishUpload".to_string()),
        Just("InitUploadEx".to_string()),
        Just("UploadPartEx".to_string()),
        Just("FinishUploadEx".to_string()),
        Just("SmallFileUpload".to_string()),
        Just("ApplyUpload".to_string()),
        Just("CommitUpload".to_string()),
        Just("524288".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
        Just(SECRET_ID.to_string()),
        "\\PC{0,24}",
        // Well-formed base64 envelopes with random contents.
        proptest::collection::vec(any::<u8>(), 21..80).prop_map(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(b)
        }),
    ]
}

#[test]
fn random_v2_requests_get_documented_errors() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = rt.block_on(TestServer::start_with(dir.path(), |c| {
        c.rate_limits.enabled = false
    }));
    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    let strategy = (
        proptest::collection::vec((name(), value()), 0..8),
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(pairs, body, post)| {
            let query = vodfs::vod::sign::encode_query(&pairs);
            let method = if post {
                reqwest::Method::POST
            } else {
                reqwest::Method::GET
            };
            let url = format!("{}?{query}", s.url("/v3/index.php"));
            let (status, v): (u16, Value) = rt.block_on(async {
                let r = s.http.request(method, url).body(body).send().await.unwrap();
                (r.status().as_u16(), r.json().await.unwrap())
            });
            prop_assert_eq!(status, 200);
            let code = v["code"].as_i64().unwrap_or(i64::MIN);
            prop_assert!(DOCUMENTED.contains(&code), "undocumented code in {}", v);
            prop_assert!(v["message"].is_string(), "{}", v);
            prop_assert!(v["canRetry"].is_i64(), "{}", v);
            Ok(())
        })
        .unwrap();
    // Raw garbage on other endpoints: an HTTP error, never a crash.
    rt.block_on(async {
        for path in [
            "/v1/media",
            "/api/v1/media/1/uploaded",
            "/fw-upload/vod/1.mp4",
            "/admin/nothing",
            "/nothing",
        ] {
            let r = s
                .http
                .post(s.url(path))
                .body(vec![0xff; 10])
                .send()
                .await
                .unwrap();
            assert!(r.status().is_client_error(), "{path}: {}", r.status());
        }
        let r = s
            .http
            .put(s.url("/x"))
            .header("Host", "b-1.cos.ap-guangzhou.myqcloud.com")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        // Still serving.
        assert_eq!(s.v2("GET", "Report", &[], vec![]).await["code"], 0);
        s.stop().await;
    });
}
