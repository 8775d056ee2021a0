//! Family F (frontwize REST) over HTTP.

use serde_json::{Value, json};
use vodfs::vod::sign;

use crate::common::*;

async fn call(s: &TestServer, path: &str, body: &Value, key: &str, date: u64) -> reqwest::Response {
    let bytes = body.to_string().into_bytes();
    let date = date.to_string();
    let nonce = rand::random::<u64>().to_string();
    let auth = sign::frontwize_authorization(SECRET_ID, key, "POST", path, &date, &nonce, &bytes);
    s.http
        .post(s.url(path))
        .header("Content-Type", "application/json")
        .header("X-Qvod-Date", &date)
        .header("X-Qvod-Nonce", &nonce)
        .header("Authorization", auth)
        .header("source", "SDK")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_put_commit_play() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let r = call(
        &s,
        "/v1/media",
        &json!({"Title": "fw clip", "Region": "pek3b", "MediaType": "video/mp4"}),
        SECRET_KEY,
        now(),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-qvod-request-id"));
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["ret_code"], 0);
    let id = a["MediaId"].as_str().unwrap().to_string();
    let put_url = a["StoragePath"].as_str().unwrap();
    let video = random_bytes(40_000, 13);

    // Commit before the bytes: refused.
    let r = call(
        &s,
        &format!("/api/v1/media/{id}/uploaded"),
        &json!({"Status": "CREATED"}),
        SECRET_KEY,
        now(),
    )
    .await;
    assert_eq!(r.status(), 409);

    let r = s
        .http
        .put(put_url)
        .header("Content-Type", "video/mp4")
        .body(video.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = call(
        &s,
        &format!("/api/v1/media/{id}/uploaded"),
        &json!({"Status": "CREATED"}),
        SECRET_KEY,
        now(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    assert_eq!(
        (c["MediaId"].as_str(), c["ret_code"].as_i64()),
        (Some(id.as_str()), Some(0))
    );
    let play = c["PlayUrl"].as_str().unwrap();
    assert_eq!(play, s.url(&format!("/vod/{id}.mp4")));
    assert_eq!(s.get_bytes(play).await, video);
    let rec = s.admin(&format!("/admin/media/{id}")).await;
    assert_eq!(
        (
            rec["flow"].as_str(),
            rec["name"].as_str(),
            rec["sourceContext"].as_str()
        ),
        (Some("F"), Some("fw clip"), Some("SDK"))
    );

    // A second upload cancelled: no PlayUrl.
    let a: Value = call(
        &s,
        "/v1/media",
        &json!({"Title": "t", "Region": "pek3b", "MediaType": "video/mp4"}),
        SECRET_KEY,
        now(),
    )
    .await
    .json()
    .await
    .unwrap();
    let id2 = a["MediaId"].as_str().unwrap();
    let c: Value = call(
        &s,
        &format!("/api/v1/media/{id2}/uploaded"),
        &json!({"Status": "CANCELLED"}),
        SECRET_KEY,
        now(),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(c["PlayUrl"], Value::Null);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_presign_failures() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| c.presign_ttl_secs = 0).await;
    let body = json!({"Title": "t", "Region": "pek3b", "MediaType": "video/mp4"});
    let check = |r: reqwest::Response, status: u16, code: &'static str| async move {
        assert_eq!(r.status(), status);
        assert!(r.headers().contains_key("x-qvod-request-id"));
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], code, "{v}");
        assert!(v["message"].is_string());
    };
    check(
        call(&s, "/v1/media", &body, "wrong", now()).await,
        401,
        "SignatureDoesNotMatch",
    )
    .await;
    check(
        call(&s, "/v1/media", &body, SECRET_KEY, now() - 3600).await,
        401,
        "RequestExpired",
    )
    .await;
    let r = s
        .http
        .post(s.url("/v1/media"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    check(r, 401, "MissingAuthorization").await;
    check(
        call(
            &s,
            "/v1/media",
            &json!({"Region": "x", "MediaType": "video/mp4"}),
            SECRET_KEY,
            now(),
        )
        .await,
        400,
        "InvalidParameter",
    )
    .await;
    check(
        call(
            &s,
            "/v1/media",
            &json!({"Title": "t", "Region": "x", "MediaType": "text/html"}),
            SECRET_KEY,
            now(),
        )
        .await,
        400,
        "InvalidParameter",
    )
    .await;

    // The presigned URL expires at once with a zero lifetime.
    let a: Value = call(&s, "/v1/media", &body, SECRET_KEY, now())
        .await
        .json()
        .await
        .unwrap();
    let url = a["StoragePath"].as_str().unwrap().to_string();
    check(
        s.http.put(&url).body("x").send().await.unwrap(),
        403,
        "RequestExpired",
    )
    .await;
    let forged = url.replace("X-Qvod-Signature=", "X-Qvod-Signature=00");
    check(
        s.http.put(&forged).body("x").send().await.unwrap(),
        403,
        "SignatureDoesNotMatch",
    )
    .await;
    check(
        call(
            &s,
            "/api/v1/media/123/uploaded",
            &json!({"Status": "CREATED"}),
            SECRET_KEY,
            now(),
        )
        .await,
        404,
        "MediaNotFound",
    )
    .await;
    s.stop().await;
}
