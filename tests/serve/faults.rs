//! Faults on demand, switched at run time through the admin endpoint.

use super::client::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_kind() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    s.set_faults("rate=1,seed=1,kinds=negative,actions=Report")
        .await;
    let r = s.v2("GET", "Report", &[], vec![]).await;
    assert_eq!(
        (r["code"].as_i64(), r["canRetry"].as_i64()),
        (Some(6000), Some(1)),
        "{r}"
    );
    let r = s.v2("GET", "InitUpload", &[], vec![]).await;
    assert_ne!(r["code"], 6000, "other actions are not faulted");

    s.set_faults("rate=1,kinds=4400").await;
    let r = s.v2("GET", "UploadPart", &[], vec![]).await;
    assert_eq!(
        (r["code"].as_i64(), r["canRetry"].as_i64()),
        (Some(4400), Some(1))
    );

    s.set_faults("rate=1,kinds=5xx").await;
    let p = s.signed("GET", "/v2/index.php", "Report", &[]);
    let url = format!(
        "{}?{}",
        s.url("/v2/index.php"),
        vodfs::vod::sign::encode_query(&p)
    );
    assert_eq!(s.http.get(&url).send().await.unwrap().status(), 503);

    s.set_faults("rate=1,kinds=drop").await;
    // The cut shows up either while reading the head or the body.
    match s.http.get(&url).send().await {
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
        Ok(resp) => assert!(resp.bytes().await.is_err(), "the body is cut"),
    }

    s.set_faults("rate=1,kinds=slow,slow_ms=300").await;
    let t = std::time::Instant::now();
    let r = s.v2("GET", "Report", &[], vec![]).await;
    assert!(t.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(r["code"], 0);

    s.set_faults("off").await;
    assert_eq!(s.v2("GET", "Report", &[], vec![]).await["code"], 0);
    let bad = s
        .http
        .put(s.url("/admin/faults"))
        .body("rate=7")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_faults_replay() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        s.set_faults("rate=0.5,seed=99,kinds=negative").await;
        let mut codes = Vec::new();
        for _ in 0..16 {
            codes.push(
                s.v2("GET", "Report", &[], vec![]).await["code"]
                    .as_i64()
                    .unwrap(),
            );
        }
        runs.push(codes);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&0) && runs[0].contains(&6000),
        "{:?}",
        runs[0]
    );
    s.stop().await;
}
