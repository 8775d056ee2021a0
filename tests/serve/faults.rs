//! Faults on demand, switched at run time through the admin endpoint.

use crate::common::*;

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
        .header("X-Vodfs-Admin", "1")
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

/// The address other hosts would reach us at, if the machine has one.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("192.0.2.1:9").ok()?;
    let ip = sock.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_is_loopback_only() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("no non-loopback address: skipping");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_at("0.0.0.0:0", dir.path(), |_| {}).await;
    let port = s.addr.port();
    let http = reqwest::Client::new();
    let local = http
        .get(format!("http://127.0.0.1:{port}/admin/stats"))
        .header("X-Vodfs-Admin", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), 200);
    let remote = http
        .get(format!("http://{ip}:{port}/admin/stats"))
        .header("X-Vodfs-Admin", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(remote.status(), 403);
    let put = http
        .put(format!("http://{ip}:{port}/admin/faults"))
        .header("X-Vodfs-Admin", "1")
        .body("rate=1")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 403);
    s.stop().await;
}
