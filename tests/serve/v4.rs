//! Family A over HTTP: happy path, instant upload, resume across a restart,
//! and every documented error.

use futures::StreamExt as _;

use crate::common::*;

const PART: usize = 524_288;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_and_instant_upload() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let content = random_bytes(PART * 2 + 1000, 1);
    let fin = s.upload_a("clip one", "mp4", &content, PART).await;
    let file_id = fin["fileId"].as_str().unwrap().to_string();
    assert!((17..=20).contains(&file_id.len()) && file_id.bytes().all(|b| b.is_ascii_digit()));
    let url = fin["url"].as_str().unwrap().to_string();
    assert_eq!(url, s.url(&format!("/vod{APP_ID}/{file_id}/f0.mp4")));
    assert_eq!(s.get_bytes(&url).await, content);

    let rec = s.admin(&format!("/admin/media/{file_id}")).await;
    assert_eq!(rec["name"], "clip one");
    assert_eq!(rec["sha1"], sha1_hex(&content));
    assert_eq!(rec["size"], content.len());
    assert_eq!(rec["flow"], "A");
    assert_eq!(rec["url"], url);

    // Same content again: code 2 with the existing fileId; Finish answers 0.
    let sha = sha1_hex(&content);
    let size = content.len().to_string();
    let init = s
        .v2(
            "POST",
            "InitUpload",
            &[
                ("fileName", "again"),
                ("fileSha", &sha.to_uppercase()),
                ("fileSize", &size),
                ("dataSize", "1048576"),
                ("fileType", "mp4"),
            ],
            vec![],
        )
        .await;
    assert_eq!(init["code"], 2, "{init}");
    assert_eq!(init["fileId"], file_id.as_str());
    let fin2 = s
        .v2("GET", "FinishUpload", &[("fileSha", &sha)], vec![])
        .await;
    assert_eq!(
        (fin2["code"].as_i64(), fin2["fileId"].as_str()),
        (Some(0), Some(file_id.as_str()))
    );
    assert_eq!(s.admin("/admin/media").await.as_array().unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_restart_sends_only_missing_parts() {
    let dir = tempfile::tempdir().unwrap();
    let content = random_bytes(PART * 3 + 7, 2);
    let sha = sha1_hex(&content);
    let size = content.len().to_string();
    let init_params = [
        ("fileName", "r"),
        ("fileSha", sha.as_str()),
        ("fileSize", size.as_str()),
        ("dataSize", "524288"),
        ("fileType", "mp4"),
    ];
    let chunks: Vec<&[u8]> = content.chunks(PART).collect();
    {
        let s = TestServer::start(dir.path()).await;
        assert_eq!(
            s.v2("GET", "InitUpload", &init_params, vec![]).await["code"],
            0
        );
        s.part(&sha, 0, PART, chunks[0]).await;
        s.part(&sha, 2 * PART, PART, chunks[2]).await;
        s.stop().await;
    }
    let s = TestServer::start(dir.path()).await;
    // A client that asks for another part size is told the original one.
    let p2 = [
        ("fileName", "r"),
        ("fileSha", sha.as_str()),
        ("fileSize", size.as_str()),
        ("dataSize", "1048576"),
        ("fileType", "mp4"),
    ];
    let init = s.v2("GET", "InitUpload", &p2, vec![]).await;
    assert_eq!(init["code"], 1, "{init}");
    assert_eq!(init["dataSize"], PART);
    let list = init["listParts"].as_array().unwrap();
    let offsets: Vec<u64> = list.iter().map(|p| p["offset"].as_u64().unwrap()).collect();
    assert_eq!(offsets, vec![0, 2 * PART as u64]);
    assert_eq!(list[1]["dataMd5"], md5_hex(chunks[2]));
    assert_eq!(list[0]["dataSize"], PART);
    let fin = s
        .v2("GET", "FinishUpload", &[("fileSha", &sha)], vec![])
        .await;
    assert_eq!(fin["code"], -10003, "{fin}");
    assert!(
        fin["message"].as_str().unwrap().contains("missing parts"),
        "{fin}"
    );
    for (i, c) in chunks.iter().enumerate() {
        if !offsets.contains(&((i * PART) as u64)) {
            s.part(&sha, i * PART, PART, c).await;
        }
    }
    let fin = s
        .v2("GET", "FinishUpload", &[("fileSha", &sha)], vec![])
        .await;
    assert_eq!(fin["code"], 0, "{fin}");
    let stats = s.admin("/admin/stats").await;
    assert_eq!(stats["partBytesReceived"], PART + 7, "{stats}");
    assert_eq!(stats["partsReceived"], 2);
    assert_eq!(s.get_bytes(fin["url"].as_str().unwrap()).await, content);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let content = random_bytes(PART + 100, 3);
    let sha = sha1_hex(&content);
    let size = content.len().to_string();
    let init = s
        .v2(
            "GET",
            "InitUpload",
            &[
                ("fileName", "e"),
                ("fileSha", &sha),
                ("fileSize", &size),
                ("dataSize", "524288"),
                ("fileType", "mp4"),
            ],
            vec![],
        )
        .await;
    assert_eq!(init["code"], 0);
    let first = &content[..PART];
    // Wrong MD5: retryable.
    let r = s
        .part_raw(&sha, 0, PART, &md5_hex(b"other"), first.to_vec())
        .await;
    assert_eq!(
        (r["code"].as_i64(), r["canRetry"].as_i64()),
        (Some(-10006), Some(1)),
        "{r}"
    );
    assert!(r["message"].as_str().unwrap().contains("md5"));
    // Misaligned offset.
    let r = s
        .part_raw(&sha, 100, PART, &md5_hex(first), first.to_vec())
        .await;
    assert_eq!(r["code"], -10003, "{r}");
    assert!(r["message"].as_str().unwrap().contains("multiple"));
    // Wrong part length.
    let short = &content[..PART - 1];
    let r = s
        .part_raw(&sha, 0, PART, &md5_hex(short), short.to_vec())
        .await;
    assert_eq!(r["code"], -10006, "{r}");
    assert!(r["message"].as_str().unwrap().contains("packet size"));
    // Wrong dataSize parameter.
    let r = s
        .part_raw(&sha, 0, 1000, &md5_hex(first), first.to_vec())
        .await;
    assert_eq!(r["code"], -10003, "{r}");
    assert!(r["message"].as_str().unwrap().contains("dataSize"));
    // Unknown upload.
    let r = s
        .part_raw(&sha1_hex(b"x"), 0, PART, &md5_hex(first), first.to_vec())
        .await;
    assert_eq!(r["code"], -10003, "{r}");
    // Nothing was recorded.
    assert_eq!(s.admin("/admin/stats").await["partsReceived"], 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha_mismatch_at_finish() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let content = random_bytes(1000, 4);
    let claimed = sha1_hex(b"not the content");
    let init = s
        .v2(
            "GET",
            "InitUpload",
            &[
                ("fileName", "m"),
                ("fileSha", &claimed),
                ("fileSize", "1000"),
                ("dataSize", "524288"),
                ("fileType", "mp4"),
            ],
            vec![],
        )
        .await;
    assert_eq!(init["code"], 0);
    s.part(&claimed, 0, PART, &content).await;
    let fin = s
        .v2("GET", "FinishUpload", &[("fileSha", &claimed)], vec![])
        .await;
    assert_eq!(fin["code"], -10003, "{fin}");
    assert!(fin["message"].as_str().unwrap().contains("sha mismatch"));
    assert!(s.admin("/admin/media").await.as_array().unwrap().is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let sha = sha1_hex(b"abc");
    let params = [
        ("fileName", "a"),
        ("fileSha", sha.as_str()),
        ("fileSize", "3"),
        ("dataSize", "524288"),
        ("fileType", "mp4"),
    ];
    let path = "/v2/index.php";

    // Tampered value after signing.
    let mut p = s.signed("GET", path, "InitUpload", &params);
    p.iter_mut().find(|(k, _)| k == "fileSize").unwrap().1 = "4".into();
    let r = s.send("GET", path, &p, vec![]).await;
    assert_eq!(
        (r["code"].as_i64(), r["codeDesc"].as_str()),
        (Some(-10002), Some("AuthFailure")),
        "{r}"
    );
    // Signed as GET, sent as POST.
    let p = s.signed("GET", path, "InitUpload", &params);
    assert_eq!(s.send("POST", path, &p, vec![]).await["code"], -10002);
    // Signed for /v2, sent to /v3.
    let p = s.signed("GET", path, "InitUpload", &params);
    assert_eq!(
        s.send("GET", "/v3/index.php", &p, vec![]).await["code"],
        -10002
    );
    // Good on /v3 with HmacSHA256.
    let mut with256: Vec<(&str, &str)> = params.to_vec();
    with256.push(("SignatureMethod", "HmacSHA256"));
    let p = s.signed("POST", "/v3/index.php", "InitUpload", &with256);
    let r = s.send("POST", "/v3/index.php", &p, vec![]).await;
    assert_eq!(r["code"], 0, "{r}");
    // The same nonce again: replay.
    let r = s.send("POST", "/v3/index.php", &p, vec![]).await;
    assert_eq!(
        (r["code"].as_i64(), r["codeDesc"].as_str()),
        (Some(4500), Some("RequestReplay")),
        "{r}"
    );
    // Stale timestamp (signed correctly).
    let mut p: Vec<(String, String)> = s.signed("GET", path, "InitUpload", &params);
    p.retain(|(k, _)| k != "Signature");
    p.iter_mut().find(|(k, _)| k == "Timestamp").unwrap().1 = (now() - 3600).to_string();
    let sig = vodfs::vod::sign::sign_v2(SECRET_KEY, "GET", &s.host(), path, &p);
    p.push(("Signature".into(), sig));
    assert_eq!(s.send("GET", path, &p, vec![]).await["code"], 4500);
    // Unknown SecretId.
    let mut p: Vec<(String, String)> = s.signed("GET", path, "InitUpload", &params);
    p.iter_mut().find(|(k, _)| k == "SecretId").unwrap().1 = "AKIDnobody".into();
    assert_eq!(s.send("GET", path, &p, vec![]).await["code"], 4104);
    // Missing common parameter, named.
    let mut p = s.signed("GET", path, "InitUpload", &params);
    p.retain(|(k, _)| k != "Nonce");
    let r = s.send("GET", path, &p, vec![]).await;
    assert_eq!(r["code"], -10001);
    assert!(r["message"].as_str().unwrap().contains("Nonce"), "{r}");
    // Bad business parameter, named.
    let r = s
        .v2(
            "GET",
            "InitUpload",
            &[
                ("fileName", "a"),
                ("fileSha", &sha),
                ("fileSize", "3"),
                ("dataSize", "1000"),
                ("fileType", "mp4"),
            ],
            vec![],
        )
        .await;
    assert_eq!(r["code"], -10003);
    assert!(r["message"].as_str().unwrap().contains("dataSize"), "{r}");
    // vod.api dialect: 4100 / 4000.
    let mut p = s.signed("GET", path, "ApplyUpload", &[("videoType", "mp4")]);
    p.iter_mut().find(|(k, _)| k == "videoType").unwrap().1 = "mov".into();
    assert_eq!(s.send("GET", path, &p, vec![]).await["code"], 4100);
    let r = s.v2("GET", "ApplyUpload", &[], vec![]).await;
    assert_eq!(r["code"], 4000);
    assert!(r["message"].as_str().unwrap().contains("videoType"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let sha = sha1_hex(b"abc");
    for (name, ty) in [
        ("../../etc/passwd", "mp4"),
        ("a\\b", "mp4"),
        ("ok", "../x"),
        ("ok", "mp4/.."),
    ] {
        let r = s
            .v2(
                "GET",
                "InitUpload",
                &[
                    ("fileName", name),
                    ("fileSha", &sha),
                    ("fileSize", "3"),
                    ("dataSize", "524288"),
                    ("fileType", ty),
                ],
                vec![],
            )
            .await;
        assert_eq!(r["code"], -10003, "{name} {ty}: {r}");
    }
    let long = "x".repeat(41);
    let r = s
        .v2(
            "GET",
            "InitUpload",
            &[
                ("fileName", &long),
                ("fileSha", &sha),
                ("fileSize", "3"),
                ("dataSize", "524288"),
                ("fileType", "mp4"),
            ],
            vec![],
        )
        .await;
    assert!(r["message"].as_str().unwrap().contains("fileName"), "{r}");
    // Playback paths with dot segments find nothing.
    for p in [
        "/vod1/../../vodfs.sqlite3",
        "/%2E%2E/vodfs.sqlite3",
        "/media/..%2Fvodfs.sqlite3",
    ] {
        let r = s.http.get(s.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{p}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_and_oversized_body() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| {
        c.rate_limits.per_action.insert("Report".into(), 2);
        c.max_body = 1000;
    })
    .await;
    assert_eq!(
        s.v2("GET", "Report", &[("errCode", "0")], vec![]).await["code"],
        0
    );
    assert_eq!(
        s.v2("GET", "Report", &[("errCode", "0")], vec![]).await["code"],
        0
    );
    let r = s.v2("GET", "Report", &[("errCode", "0")], vec![]).await;
    assert_eq!(
        (
            r["code"].as_i64(),
            r["canRetry"].as_i64(),
            r["codeDesc"].as_str()
        ),
        (Some(4400), Some(1), Some("RequestLimitExceeded"))
    );
    // Switched off at run time, then a per-action quota again.
    let off = s
        .http
        .put(s.url("/admin/rate-limits"))
        .header("X-Vodfs-Admin", "1")
        .body("off")
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 200);
    assert_eq!(
        s.v2("GET", "Report", &[("errCode", "0")], vec![]).await["code"],
        0
    );
    let on = s
        .http
        .put(s.url("/admin/rate-limits"))
        .header("X-Vodfs-Admin", "1")
        .body("Report=0")
        .send()
        .await
        .unwrap();
    assert_eq!(on.status(), 200);
    assert_eq!(
        s.v2("GET", "Report", &[("errCode", "0")], vec![]).await["code"],
        4400
    );
    // A part larger than --max-body.
    let content = random_bytes(5000, 5);
    let sha = sha1_hex(&content);
    let r = s
        .v2(
            "GET",
            "InitUpload",
            &[
                ("fileName", "big"),
                ("fileSha", &sha),
                ("fileSize", "5000"),
                ("dataSize", "524288"),
                ("fileType", "mp4"),
            ],
            vec![],
        )
        .await;
    assert_eq!(r["code"], 0);
    let r = s
        .part_raw(&sha, 0, PART, &md5_hex(&content), content.clone())
        .await;
    assert_eq!(r["code"], -10006, "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("exceeds 1000"),
        "{r}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cover_with_small_file_upload() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let fin = s.upload_a("v", "mp4", &random_bytes(2000, 6), PART).await;
    let video = fin["fileId"].as_str().unwrap().to_string();
    let cover = random_bytes(300, 7);
    let (sha, size) = (sha1_hex(&cover), cover.len().to_string());
    let r = s
        .v2(
            "POST",
            "SmallFileUpload",
            &[
                ("fileName", "c"),
                ("fileSha", &sha),
                ("fileSize", &size),
                ("dataSize", &size),
                ("fileType", "jpg"),
                ("extra.usage", "1"),
                ("extra.fileId", &video),
            ],
            cover.clone(),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let cover_id = r["fileId"].as_str().unwrap();
    let url = r["url"].as_str().unwrap();
    assert_eq!(url, s.url(&format!("/vod{APP_ID}/{video}/{cover_id}.jpg")));
    let resp = s.http.get(url).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), cover);
    let rec = s.admin(&format!("/admin/media/{video}")).await;
    assert_eq!(rec["coverUrl"], url);
    // A cover for a video that does not exist.
    let r = s
        .v2(
            "POST",
            "SmallFileUpload",
            &[
                ("fileName", "c"),
                ("fileSha", &sha),
                ("fileSize", &size),
                ("dataSize", &size),
                ("fileType", "jpg"),
                ("extra.fileId", "123"),
            ],
            cover,
        )
        .await;
    assert_eq!(r["code"], -10003, "{r}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_part_lists_only_complete_parts() {
    let dir = tempfile::tempdir().unwrap();
    let content = random_bytes(PART * 2 + 10, 14);
    let sha = sha1_hex(&content);
    let size = content.len().to_string();
    let init_params = [
        ("fileName", "k"),
        ("fileSha", sha.as_str()),
        ("fileSize", size.as_str()),
        ("dataSize", "524288"),
        ("fileType", "mp4"),
    ];
    let chunks: Vec<&[u8]> = content.chunks(PART).collect();
    let s = TestServer::start(dir.path()).await;
    assert_eq!(
        s.v2("GET", "InitUpload", &init_params, vec![]).await["code"],
        0
    );
    s.part(&sha, 0, PART, chunks[0]).await;
    // Part 1: half the body arrives, then the sender stalls.
    let (off, md5) = (PART.to_string(), md5_hex(chunks[1]));
    let p = s.signed(
        "POST",
        "/v2/index.php",
        "UploadPart",
        &[
            ("fileSha", &sha),
            ("offset", &off),
            ("dataSize", "524288"),
            ("dataMd5", &md5),
        ],
    );
    let url = format!(
        "{}?{}",
        s.url("/v2/index.php"),
        vodfs::vod::sign::encode_query(&p)
    );
    let half = bytes::Bytes::copy_from_slice(&chunks[1][..PART / 2]);
    let body = futures::stream::iter(vec![Ok::<_, std::io::Error>(half)])
        .chain(futures::stream::pending());
    let req = s
        .http
        .post(url)
        .header("Content-Length", PART.to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let stalled = tokio::spawn(req);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    s.kill();
    stalled.abort();
    let s = TestServer::start(dir.path()).await;
    let init = s.v2("GET", "InitUpload", &init_params, vec![]).await;
    assert_eq!(init["code"], 1, "{init}");
    let offsets: Vec<u64> = init["listParts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, vec![0]);
    s.part(&sha, PART, PART, chunks[1]).await;
    s.part(&sha, 2 * PART, PART, chunks[2]).await;
    let fin = s
        .v2("GET", "FinishUpload", &[("fileSha", &sha)], vec![])
        .await;
    assert_eq!(fin["code"], 0, "{fin}");
    assert_eq!(s.get_bytes(fin["url"].as_str().unwrap()).await, content);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vod_api_post_form_body() {
    // qcloudapi-sdk style: POST with every parameter in a form body.
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let p = s.signed(
        "POST",
        "/v2/index.php",
        "ApplyUpload",
        &[("videoType", "mp4"), ("videoName", "form")],
    );
    let r: serde_json::Value = s
        .http
        .post(s.url("/v2/index.php"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(vodfs::vod::sign::encode_query(&p))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 0, "{r}");
    assert!(r["vodSessionKey"].is_string());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_covers_the_host_header_as_received() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let mut p: Vec<(String, String)> = vec![
        ("Action".into(), "Report".into()),
        ("Region".into(), "gz".into()),
        ("Timestamp".into(), now().to_string()),
        ("Nonce".into(), "4242".into()),
        ("SecretId".into(), SECRET_ID.into()),
    ];
    let sig = vodfs::vod::sign::sign_v2(SECRET_KEY, "GET", "vod2.qcloud.com", "/v3/index.php", &p);
    p.push(("Signature".into(), sig));
    let url = format!(
        "{}?{}",
        s.url("/v3/index.php"),
        vodfs::vod::sign::encode_query(&p)
    );
    let with_host: serde_json::Value = s
        .http
        .get(&url)
        .header("Host", "vod2.qcloud.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(with_host["code"], 0, "{with_host}");
    let without: serde_json::Value = s.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(without["code"], 4100, "signed for another host: {without}");
    s.stop().await;
}

/// Parts out of order, and a part sent again with a body that does not
/// match its MD5 after it was recorded: the recorded bytes stay, and the
/// media is exactly the content (the data file and running hashes agree).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_out_of_order_and_a_bad_resend_keep_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let content = random_bytes(PART * 3 + 777, 9);
    let sha = sha1_hex(&content);
    let size = content.len().to_string();
    let ds = PART.to_string();
    let init = s
        .v2(
            "GET",
            "InitUpload",
            &[
                ("fileName", "ooo"),
                ("fileSha", &sha),
                ("fileSize", &size),
                ("dataSize", &ds),
                ("fileType", "mp4"),
            ],
            vec![],
        )
        .await;
    assert_eq!(init["code"], 0, "{init}");
    let chunks: Vec<_> = content.chunks(PART).collect();
    for i in [2, 0, 3, 1] {
        s.part(&sha, i * PART, PART, chunks[i]).await;
    }
    // Part 0 again, with other bytes than its MD5 says: refused, and the
    // recorded part 0 is intact.
    let r = s
        .part_raw(&sha, 0, PART, &md5_hex(chunks[0]), vec![0xAB; PART])
        .await;
    assert_eq!(r["code"], -10006, "{r}");
    // Part 1 again with the right bytes: accepted, nothing changes.
    s.part(&sha, PART, PART, chunks[1]).await;
    let fin = s
        .v2("POST", "FinishUpload", &[("fileSha", &sha)], vec![])
        .await;
    assert_eq!(fin["code"], 0, "{fin}");
    let url = fin["url"].as_str().unwrap().to_string();
    assert!(s.get_bytes(&url).await == content, "bytes behind the URL");
    let rec = s
        .admin(&format!("/admin/media/{}", fin["fileId"].as_str().unwrap()))
        .await;
    assert_eq!(rec["sha1"], sha);
    s.stop().await;
}
