//! Family D against a `vodfs serve` child over loopback HTTP, written from
//! protocol.md §4 (the client signature) and §5.4 (the wire format):
//! ApplyUploadUGC (new, with a cover, resumed by vodSessionKey, a cover
//! replaced by fileId), COS with the tempCertificate, CommitUploadUGC
//! (twice), PrepareUploadUGC; every refusal of a signature (10004, and the
//! reason in the message), one-time signatures across a restart, sessions
//! past their day, declared sizes. The signature's refusals, one-time
//! signatures and accounts are in `ugc_d_sig.rs` (it uses the helpers
//! here); cos-python-sdk-v5 as the COS client is in `tests/sdk`
//! (`ugc_d_cos.py`).

use serde_json::{Value, json};
use vodfs::vod::rules::cos_xml::{
    CompleteMultipartUpload, CompletePart, InitiateMultipartUploadResult, ListPartsResult,
};
use vodfs::vod::sign::{ClientSignature, UgcEnvelope, cos_authorization};

use crate::common::*;

/// A signature of the test account valid for an hour from now.
pub(super) fn sig_fields() -> ClientSignature {
    let t = now();
    ClientSignature {
        secret_id: SECRET_ID.into(),
        current_time_stamp: t,
        expire_time: t + 3600,
        random: rand::random(),
        ..Default::default()
    }
}

pub(super) fn good() -> String {
    sig_fields().sign(SECRET_KEY)
}

/// POSTs a family D call; the JSON answer (always HTTP 200 JSON).
pub(super) fn call(svc: &Service, action: &str, body: &Value) -> Value {
    call_raw(svc, action, body.to_string().into_bytes())
}

pub(super) fn call_raw(svc: &Service, action: &str, body: Vec<u8>) -> Value {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/v3/index.php?Action={action}", svc.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .expect("family D call");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().expect("a JSON answer")
}

/// The `data` of a successful answer.
pub(super) fn ok(v: &Value) -> Value {
    assert_eq!(
        (v["code"].as_i64(), v["message"].as_str()),
        (Some(0), Some("成功")),
        "{v}"
    );
    v["data"].clone()
}

/// Asserts an error answer's code and that its message says `why`.
pub(super) fn refused(v: &Value, code: i64, why: &str) {
    assert_eq!(v["code"].as_i64(), Some(code), "{v}");
    let m = v["message"].as_str().unwrap_or("");
    assert!(m.contains(why), "message {m:?} should say {why:?}");
    assert!(v["canRetry"].is_i64(), "{v}");
}

/// A COS PUT of `body` to `path` with the answer's tempCertificate;
/// `(status, body)`.
pub(super) fn cos_put(svc: &Service, data: &Value, path: &str, body: &[u8]) -> (u16, String) {
    cos(svc, data, "PUT", path, "", body)
}

/// A COS request with the answer's tempCertificate (the query unsigned,
/// the host signed, the token sent); `(status, body)`.
fn cos(
    svc: &Service,
    data: &Value,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> (u16, String) {
    let c = &data["tempCertificate"];
    let host = format!(
        "{}-{}.cos.{}.myqcloud.com",
        data["storageBucket"].as_str().unwrap(),
        data["storageAppId"],
        data["storageRegionV5"].as_str().unwrap()
    );
    let token = c["token"].as_str().unwrap();
    let headers = vec![("host".to_string(), host.clone())];
    let auth = cos_authorization(
        c["secretId"].as_str().unwrap(),
        c["secretKey"].as_str().unwrap(),
        (now() - 60, now() + 600),
        &method.to_ascii_lowercase(),
        path,
        &[],
        &headers,
    );
    let url = match query {
        "" => format!("{}{path}", svc.url),
        q => format!("{}{path}?{q}", svc.url),
    };
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let resp = reqwest::blocking::Client::new()
        .request(method, url)
        .header("Host", &host)
        .header("Authorization", auth)
        .header("x-cos-security-token", token)
        .body(body.to_vec())
        .send()
        .expect("cos request");
    (resp.status().as_u16(), resp.text().unwrap_or_default())
}

pub(super) fn path_of(data: &Value, what: &str) -> String {
    data[what]["storagePath"].as_str().expect(what).to_string()
}

pub(super) fn fetch(url: &str) -> Vec<u8> {
    reqwest::blocking::get(url)
        .expect("fetch")
        .bytes()
        .expect("body")
        .to_vec()
}
#[test]
fn ugc_d_new_upload_with_cover_applies_the_signatures_settings_and_commits_idempotently() {
    let svc = Service::start();
    let signed = ClientSignature {
        class_id: Some(3),
        procedure: Some("LongVideoPreset".into()),
        task_priority: Some(5),
        task_notify_mode: Some("Change".into()),
        source_context: Some("ctx & = ünï".into()),
        ..sig_fields()
    }
    .sign(SECRET_KEY);
    let video = random_bytes(300_000, 1);
    let cover = random_bytes(2_000, 2);
    let a = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": signed, "videoName": "holiday", "videoType": "mp4",
                "videoSize": video.len(), "coverName": "thumb", "coverType": "jpg",
                "coverSize": cover.len(), "uploadFromWeb": true}),
    ));
    // Every field §5.4 lists, both storageRegionV5 spellings (§2.5).
    for f in [
        "storageAppId",
        "storageBucket",
        "storageRegion",
        "storageRegionV5",
        "StorageRegionV5",
        "domain",
        "vodSessionKey",
        "appId",
        "timestamp",
    ] {
        assert!(!a[f].is_null(), "data lacks {f}: {a}");
    }
    assert_eq!(a["storageRegionV5"], a["StorageRegionV5"]);
    for f in ["secretId", "secretKey", "token", "expiredTime"] {
        assert!(
            !a["tempCertificate"][f].is_null(),
            "tempCertificate lacks {f}"
        );
    }
    assert_ne!(a["tempCertificate"]["secretId"], SECRET_ID);
    for what in ["video", "cover"] {
        assert!(path_of(&a, what).starts_with('/'));
        assert!(a[what]["storageSignature"].is_string());
    }
    assert!(path_of(&a, "video").ends_with(".mp4") && path_of(&a, "cover").ends_with(".jpg"));
    let key = a["vodSessionKey"].as_str().unwrap().to_string();
    let commit = json!({"signature": good(), "vodSessionKey": key});
    // Nothing uploaded yet: refused, and the session stays usable.
    refused(
        &call(&svc, "CommitUploadUGC", &commit),
        5000,
        "has not been uploaded",
    );
    assert_eq!(cos_put(&svc, &a, &path_of(&a, "video"), &video).0, 200);
    refused(&call(&svc, "CommitUploadUGC", &commit), 5000, "cover");
    assert_eq!(cos_put(&svc, &a, &path_of(&a, "cover"), &cover).0, 200);
    let c = ok(&call(&svc, "CommitUploadUGC", &commit));
    let file_id = c["fileId"].as_str().expect("fileId").to_string();
    let again = ok(&call(
        &svc,
        "CommitUploadUGC",
        &json!({"signature": good(), "vodSessionKey": key}),
    ));
    assert_eq!(again, c, "a second commit answers the same");
    assert_eq!(fetch(c["video"]["url"].as_str().unwrap()), video);
    assert_eq!(fetch(c["cover"]["url"].as_str().unwrap()), cover);
    let vk = svc.admin("/admin/account")["verifyKey"]
        .as_str()
        .unwrap()
        .to_string();
    let vc = UgcEnvelope::decode(c["video"]["verify_content"].as_str().unwrap()).unwrap();
    vc.verify(&vk)
        .expect("verify_content is signed with the verify key");
    assert!(vc.original.ends_with(&format!("FileId={file_id}")));
    let m = svc.admin(&format!("/admin/media/{file_id}"));
    assert_eq!(m["flow"], "D");
    assert_eq!(m["name"], "holiday");
    assert_eq!(m["size"], video.len());
    assert_eq!(m["classId"], 3);
    assert_eq!(m["procedure"], "LongVideoPreset");
    assert_eq!(m["sourceContext"], "ctx & = ünï");
    assert_eq!(m["taskPriority"], 5);
    assert_eq!(m["taskNotifyMode"], "Change");
    assert_eq!(m["coverUrl"], c["cover"]["url"]);
    assert_eq!(svc.media_count(), 2, "the video and its cover");
}
#[test]
fn ugc_d_prepare_lists_the_region_and_strangers_store_nothing() {
    let svc = Service::start();
    let p = ok(&call(
        &svc,
        "PrepareUploadUGC",
        &json!({"signature": good()}),
    ));
    assert_eq!(p["appId"], svc.admin("/admin/account")["appId"]);
    assert_eq!(p["cosRegionList"][0]["region"], "ap-guangzhou");
    assert!(
        p["cosRegionList"][0]["domain"]
            .as_str()
            .unwrap()
            .contains(".cos.")
    );
    let a = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": good(), "videoType": "mp4", "storageRegion": "ap-guangzhou"}),
    ));
    assert!(a["cover"].is_null(), "no cover declared, none answered");
    // Another region is answered as asked (one service stands for all),
    // and kept through a resume; a name that is no region is refused.
    let cq = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": good(), "videoType": "mp4", "storageRegion": "ap-chongqing"}),
    ));
    assert_eq!(
        (
            &cq["storageRegionV5"],
            &cq["StorageRegionV5"],
            &cq["storageRegion"]
        ),
        (&json!("ap-chongqing"), &json!("ap-chongqing"), &json!("cq"))
    );
    assert_eq!(cos_put(&svc, &cq, &path_of(&cq, "video"), b"cq").0, 200);
    let resumed = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": good(), "vodSessionKey": cq["vodSessionKey"]}),
    ));
    assert_eq!(resumed["storageRegionV5"], "ap-chongqing");
    refused(
        &call(
            &svc,
            "ApplyUploadUGC",
            &json!({"signature": good(), "videoType": "mp4", "storageRegion": "Ap Mars!"}),
        ),
        10001,
        "storageRegion",
    );
    refused(
        &call_raw(&svc, "ApplyUploadUGC", b"not json".to_vec()),
        10001,
        "JSON object",
    );
    refused(
        &call(&svc, "ApplyUploadUGC", &json!({"videoType": "mp4"})),
        10001,
        "signature",
    );
    refused(
        &call(&svc, "ApplyUploadUGC", &json!({"signature": good()})),
        10001,
        "videoType",
    );
    refused(
        &call(
            &svc,
            "ApplyUploadUGC",
            &json!({"signature": good(), "videoType": "exe"}),
        ),
        10001,
        "videoType",
    );
    let stats = svc.admin("/admin/stats");
    assert!(
        stats["actions"]["ApplyUploadUGC"]["errors"].as_u64() >= Some(5),
        "{stats}"
    );
}
#[test]
fn ugc_d_resume_answers_the_same_paths_with_a_fresh_credential_until_the_day_is_over() {
    let mut svc = Service::start();
    let a = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": good(), "videoType": "mov", "videoSize": 5, "coverType": "png"}),
    ));
    let key = a["vodSessionKey"].as_str().unwrap().to_string();
    svc.restart();
    let r = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": good(), "vodSessionKey": key, "uploadFromWeb": true}),
    ));
    assert_eq!(r["vodSessionKey"], key.as_str());
    assert_eq!(path_of(&r, "video"), path_of(&a, "video"));
    assert_eq!(path_of(&r, "cover"), path_of(&a, "cover"));
    assert_eq!(r["storageBucket"], a["storageBucket"]);
    assert_ne!(
        r["tempCertificate"]["secretId"],
        a["tempCertificate"]["secretId"]
    );
    // The fresh credential writes the session's objects; the declared size
    // is checked at commit (the session survives a refusal).
    assert_eq!(cos_put(&svc, &r, &path_of(&r, "video"), b"012345").0, 200);
    assert_eq!(cos_put(&svc, &r, &path_of(&r, "cover"), b"png").0, 200);
    let commit = json!({"signature": good(), "vodSessionKey": key});
    refused(&call(&svc, "CommitUploadUGC", &commit), 10001, "declared 5");
    assert_eq!(cos_put(&svc, &r, &path_of(&r, "video"), b"01234").0, 200);
    // Another session's object is out of the credential's scope.
    let other = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": good(), "videoType": "mp4"}),
    ));
    assert_eq!(cos_put(&svc, &r, &path_of(&other, "video"), b"x").0, 403);
    // Past its day, the session is refused, committed or not.
    let expired = svc.admin_post("/admin/expire-sessions");
    assert!(expired["expired"].as_u64() >= Some(2), "{expired}");
    refused(&call(&svc, "CommitUploadUGC", &commit), 31001, "expired");
    let again = json!({"signature": good(), "vodSessionKey": key});
    refused(&call(&svc, "ApplyUploadUGC", &again), 31001, "expired");
    refused(
        &call(
            &svc,
            "ApplyUploadUGC",
            &json!({"signature": good(), "vodSessionKey": "bm8gc3VjaCBrZXk="}),
        ),
        31001,
        "no such upload session",
    );
}

#[test]
fn ugc_d_a_committed_session_resumes_no_more() {
    let svc = Service::start();
    let a = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": good(), "videoType": "mp4"}),
    ));
    let key = a["vodSessionKey"].as_str().unwrap();
    assert_eq!(cos_put(&svc, &a, &path_of(&a, "video"), b"abc").0, 200);
    ok(&call(
        &svc,
        "CommitUploadUGC",
        &json!({"signature": good(), "vodSessionKey": key}),
    ));
    refused(
        &call(
            &svc,
            "ApplyUploadUGC",
            &json!({"signature": good(), "vodSessionKey": key}),
        ),
        31001,
        "committed",
    );
}

#[test]
fn ugc_d_a_cover_is_replaced_by_file_id() {
    let svc = Service::start();
    let a = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": good(), "videoType": "mp4", "coverType": "jpg"}),
    ));
    let key = a["vodSessionKey"].as_str().unwrap();
    assert_eq!(cos_put(&svc, &a, &path_of(&a, "video"), b"video").0, 200);
    assert_eq!(
        cos_put(&svc, &a, &path_of(&a, "cover"), b"old cover").0,
        200
    );
    let c = ok(&call(
        &svc,
        "CommitUploadUGC",
        &json!({"signature": good(), "vodSessionKey": key}),
    ));
    let file_id = c["fileId"].as_str().unwrap().to_string();
    let old_cover = svc.admin(&format!("/admin/media/{file_id}"))["coverFileId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": good(), "fileId": file_id, "coverName": "new",
                "coverType": "png", "coverSize": 9, "uploadFromWeb": true}),
    ));
    assert!(r["video"].is_null(), "a cover replacement uploads no video");
    assert_eq!(
        cos_put(&svc, &r, &path_of(&r, "cover"), b"new cover").0,
        200
    );
    let rk = r["vodSessionKey"].as_str().unwrap();
    let rc = ok(&call(
        &svc,
        "CommitUploadUGC",
        &json!({"signature": good(), "vodSessionKey": rk}),
    ));
    assert_eq!(rc["fileId"], file_id.as_str());
    assert_eq!(fetch(rc["cover"]["url"].as_str().unwrap()), b"new cover");
    let m = svc.admin(&format!("/admin/media/{file_id}"));
    assert_eq!(m["coverUrl"], rc["cover"]["url"]);
    assert_ne!(m["coverFileId"], old_cover.as_str());
    assert_eq!(
        fetch(m["url"].as_str().unwrap()),
        b"video",
        "the video stays"
    );
    let gone = reqwest::blocking::Client::new()
        .get(format!("{}/admin/media/{old_cover}", svc.url))
        .header("X-Vodfs-Admin", "1")
        .send()
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404, "the replaced cover is gone");
    assert_eq!(svc.media_count(), 2);
    refused(
        &call(
            &svc,
            "ApplyUploadUGC",
            &json!({"signature": good(), "fileId": "1234567890123456789", "coverType": "png"}),
        ),
        5000,
        "no video",
    );
    refused(
        &call(
            &svc,
            "ApplyUploadUGC",
            &json!({"signature": good(), "fileId": file_id}),
        ),
        10001,
        "coverType",
    );
}
#[test]
fn ugc_d_declared_sizes_and_names_are_checked_before_anything_is_allocated() {
    let mut svc = Service::start_limited(&[], Some(2 << 30));
    let apply = |extra: Value| {
        let mut b = json!({"signature": good(), "videoType": "mp4"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        call(&svc, "ApplyUploadUGC", &b)
    };
    refused(&apply(json!({"videoSize": u64::MAX})), 10001, "videoSize");
    refused(&apply(json!({"videoSize": 1e30})), 10001, "videoSize");
    refused(&apply(json!({"videoSize": -1})), 10001, "videoSize");
    refused(&apply(json!({"videoSize": "12x"})), 10001, "videoSize");
    refused(
        &apply(json!({"coverType": "jpg", "coverSize": 1u64 << 40})),
        10001,
        "coverSize",
    );
    refused(&apply(json!({"coverSize": 10})), 10001, "coverType");
    refused(
        &apply(json!({"videoName": "n".repeat(65)})),
        10001,
        "videoName",
    );
    refused(&apply(json!({"videoName": "a\nb"})), 10001, "control");
    let big = format!(
        r#"{{"signature":"{}","videoType":"mp4","pad":"{}"}}"#,
        good(),
        "x".repeat(70_000)
    );
    refused(
        &call_raw(&svc, "ApplyUploadUGC", big.into_bytes()),
        10001,
        "exceeds",
    );
    ok(&apply(
        json!({"videoSize": 10_000u64 * (5 << 30), "videoName": "n".repeat(64)}),
    ));
    assert!(
        svc.is_running(),
        "nothing was allocated by what was declared"
    );
}

#[test]
fn ugc_d_rate_limits_and_faults_answer_the_family_d_way() {
    let svc = Service::start();
    svc.admin_put("/admin/rate-limits", "ApplyUploadUGC=1");
    let body = json!({"signature": good(), "videoType": "mp4"});
    ok(&call(&svc, "ApplyUploadUGC", &body));
    let over = call(&svc, "ApplyUploadUGC", &body);
    refused(&over, 4400, "limit");
    assert_eq!(over["canRetry"], 1);
    svc.admin_put("/admin/rate-limits", "off");
    svc.admin_put(
        "/admin/faults",
        "rate=1,kinds=negative,actions=CommitUploadUGC",
    );
    let f = call(
        &svc,
        "CommitUploadUGC",
        &json!({"signature": good(), "vodSessionKey": "k"}),
    );
    assert_eq!(
        (f["code"].as_i64(), f["canRetry"].as_i64()),
        (Some(-10005), Some(1)),
        "{f}"
    );
}
#[test]
fn ugc_d_a_commit_whose_answer_was_lost_answers_the_same_media_again() {
    let svc = Service::start();
    let a = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": good(), "videoType": "mp4"}),
    ));
    let key = a["vodSessionKey"].as_str().unwrap();
    assert_eq!(
        cos_put(&svc, &a, &path_of(&a, "video"), b"lost answer").0,
        200
    );
    svc.admin_put(
        "/admin/faults",
        "rate=1,kinds=drop,actions=CommitUploadUGC,max=1",
    );
    let commit = json!({"signature": good(), "vodSessionKey": key});
    let lost = reqwest::blocking::Client::new()
        .post(format!("{}/v3/index.php?Action=CommitUploadUGC", svc.url))
        .body(commit.to_string())
        .send()
        .and_then(|r| r.text());
    assert!(lost.is_err(), "the answer was cut: {lost:?}");
    let c = ok(&call(&svc, "CommitUploadUGC", &commit));
    assert_eq!(svc.media_count(), 1, "one media, committed once");
    assert_eq!(svc.media()[0]["fileId"], c["fileId"]);
}

#[test]
fn ugc_d_answers_a_browsers_preflight() {
    let svc = Service::start();
    let client = reqwest::blocking::Client::new();
    let pre = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v3/index.php?Action=ApplyUploadUGC", svc.url),
        )
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .unwrap();
    assert_eq!(pre.status().as_u16(), 204);
    let h = |r: &reqwest::blocking::Response, n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(h(&pre, "access-control-allow-origin"), "*");
    assert!(h(&pre, "access-control-allow-methods").contains("POST"));
    assert!(h(&pre, "access-control-allow-headers").contains("content-type"));
    let r = client
        .post(format!("{}/v3/index.php?Action=PrepareUploadUGC", svc.url))
        .header("Origin", "https://app.example")
        .header("content-type", "application/json")
        .body(json!({"signature": good()}).to_string())
        .send()
        .unwrap();
    assert_eq!(h(&r, "access-control-allow-origin"), "*");
    ok(&r.json().unwrap());
}

#[test]
fn ugc_d_a_multipart_upload_resumes_after_the_service_is_killed() {
    let mut svc = Service::start();
    let part = 1usize << 20;
    let video = random_bytes(part + 1000, 5);
    let a = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": good(), "videoType": "mp4", "videoSize": video.len()}),
    ));
    let path = path_of(&a, "video");
    let (st, xml) = cos(&svc, &a, "POST", &path, "uploads", b"");
    assert_eq!(st, 200, "{xml}");
    let id = InitiateMultipartUploadResult::parse(&xml)
        .expect("initiate")
        .upload_id;
    let q1 = format!("partNumber=1&uploadId={id}");
    assert_eq!(cos(&svc, &a, "PUT", &path, &q1, &video[..part]).0, 200);
    svc.restart(); // SIGKILL: nothing flushed on the way out
    let key = a["vodSessionKey"].as_str().unwrap();
    let r = ok(&call(
        &svc,
        "ApplyUploadUGC",
        &json!({"signature": good(), "vodSessionKey": key}),
    ));
    let (st, xml) = cos(&svc, &r, "GET", &path, &format!("uploadId={id}"), b"");
    assert_eq!(st, 200, "{xml}");
    let listed = ListPartsResult::parse(&xml).expect("list parts").parts;
    assert_eq!(
        listed
            .iter()
            .map(|p| (p.number, p.size))
            .collect::<Vec<_>>(),
        vec![(1, part as u64)],
        "the part sent before the kill is there"
    );
    let q2 = format!("partNumber=2&uploadId={id}");
    let (st, _) = cos(&svc, &r, "PUT", &path, &q2, &video[part..]);
    assert_eq!(st, 200);
    let stats = svc.admin("/admin/stats");
    assert_eq!(
        stats["partBytesReceived"], 1000,
        "only the missing part was sent again"
    );
    let done = CompleteMultipartUpload {
        parts: (1..=2)
            .zip([&video[..part], &video[part..]])
            .map(|(number, bytes)| CompletePart {
                number,
                etag: hex::encode(<md5::Md5 as md5::Digest>::digest(bytes)),
            })
            .collect(),
    };
    let (st, xml) = cos(
        &svc,
        &r,
        "POST",
        &path,
        &format!("uploadId={id}"),
        done.to_xml().as_bytes(),
    );
    assert_eq!(st, 200, "{xml}");
    let c = ok(&call(
        &svc,
        "CommitUploadUGC",
        &json!({"signature": good(), "vodSessionKey": key}),
    ));
    assert_eq!(fetch(c["video"]["url"].as_str().unwrap()), video);
}
