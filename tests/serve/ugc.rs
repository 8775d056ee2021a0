//! Family B (UGC v4 signature) over HTTP.

use crate::common::*;
use vodfs::vod::sign;

fn ugc_sig(sha: &str, e: u64, key: &str) -> String {
    let t = now();
    let original = format!(
        "s={SECRET_ID}&t={t}&e={e}&f=ugc%20clip&fs={sha}&ft=mp4&uid=1234&r=777&cid=3&tag.1=a&tag.2=b"
    );
    sign::ugc_sign(key, &original)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ugc_flow_with_verify_content() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let content = random_bytes(600_000, 9);
    let sha = sha1_hex(&content);
    let sig = ugc_sig(&sha, now() + 600, SECRET_KEY);
    let size = content.len().to_string();
    let q = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let r = s
        .send(
            "GET",
            "/v3/index.php",
            &q(&[
                ("Action", "InitUploadEx"),
                ("fileSha", &sha),
                ("fileSize", &size),
                ("dataSize", "524288"),
                ("signature", &sig),
            ]),
            vec![],
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    for (i, c) in content.chunks(524_288).enumerate() {
        let (off, md5) = ((i * 524_288).to_string(), md5_hex(c));
        // Java-SDK style: capital S, no fileSha (it is in the signature).
        let action = if i == 0 {
            "UploadPartEx"
        } else {
            "UploadPartUGC"
        };
        let r = s
            .send(
                "POST",
                "/v3/index.php",
                &q(&[
                    ("Action", action),
                    ("offset", &off),
                    ("dataSize", "524288"),
                    ("dataMd5", &md5),
                    ("Signature", &sig),
                ]),
                c.to_vec(),
            )
            .await;
        assert_eq!(r["code"], 0, "{r}");
    }
    let r = s
        .send(
            "GET",
            "/v3/index.php",
            &q(&[("Action", "FinishUploadUGC"), ("signature", &sig)]),
            vec![],
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let file_id = r["fileId"].as_str().unwrap();
    let account = s.admin("/admin/account").await;
    let env = sign::UgcEnvelope::decode(r["verify_content"].as_str().unwrap()).unwrap();
    env.verify(account["verifyKey"].as_str().unwrap()).unwrap();
    assert_eq!(env.field("FileId").as_deref(), Some(file_id));
    assert!(env.field("ExpTime").unwrap().parse::<u64>().unwrap() > now());
    let rec = s.admin(&format!("/admin/media/{file_id}")).await;
    assert_eq!(
        (
            rec["name"].as_str(),
            rec["flow"].as_str(),
            rec["classId"].as_i64()
        ),
        (Some("ugc clip"), Some("B"), Some(3))
    );
    assert_eq!(rec["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(s.get_bytes(r["url"].as_str().unwrap()).await, content);
    // InitUploadEx again: instant upload.
    let r = s
        .send(
            "GET",
            "/v3/index.php",
            &q(&[
                ("Action", "InitUploadEx"),
                ("fileSha", &sha),
                ("fileSize", &size),
                ("dataSize", "524288"),
                ("signature", &sig),
            ]),
            vec![],
        )
        .await;
    assert_eq!(
        (r["code"].as_i64(), r["fileId"].as_str()),
        (Some(2), Some(file_id))
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ugc_signature_failures() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let sha = sha1_hex(b"abc");
    let r = init(&s, &sha, ugc_sig(&sha, now() - 10, SECRET_KEY)).await;
    assert_eq!(r["code"], -10002, "{r}");
    assert!(r["message"].as_str().unwrap().contains("expired"));
    let r = init(&s, &sha, ugc_sig(&sha, now() + 600, "wrong key")).await;
    assert_eq!(r["code"], -10002, "{r}");
    let r = init(&s, &sha, "bm90IGEgc2lnbmF0dXJl".into()).await;
    assert_eq!(r["code"], -10002, "{r}");
    let r = init(
        &s,
        &sha,
        ugc_sig(&sha1_hex(b"other"), now() + 600, SECRET_KEY),
    )
    .await;
    assert_eq!(r["code"], -10003, "query fileSha differs from fs: {r}");
    s.stop().await;
}

async fn init(s: &TestServer, sha: &str, sig: String) -> serde_json::Value {
    let p = vec![
        ("Action".to_string(), "InitUploadEx".to_string()),
        ("fileSha".into(), sha.to_string()),
        ("fileSize".into(), "3".into()),
        ("dataSize".into(), "524288".into()),
        ("signature".into(), sig),
    ];
    s.send("GET", "/v2/index.php", &p, vec![]).await
}
