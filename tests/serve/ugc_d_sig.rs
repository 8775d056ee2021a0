//! Family D's client signature at the service (protocol.md §4), over HTTP
//! against `vodfs serve`: every refusal is 10004 with its reason (and a log
//! line without secrets), a one-time signature serves one call across a
//! restart and cannot be spent by a forger, another account's signature
//! reaches none of an account's sessions or media, random bodies get
//! documented codes from a service under an address-space limit. Helpers:
//! `ugc_d.rs`.

use serde_json::{Value, json};
use vodfs::vod::sign::{ClientSignature, UgcEnvelope, cos_authorization, ugc_sign};

use super::ugc_d::{call, cos_put, good, ok, path_of, refused, sig_fields};
use crate::common::*;

/// `sig` with its signed text changed but its HMAC kept.
fn tampered(sig: &str) -> String {
    let env = UgcEnvelope::decode(sig).unwrap();
    let text = format!("{}&classId=7", env.original);
    let mut raw = env.mac.to_vec();
    raw.extend_from_slice(text.as_bytes());
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(raw)
}

#[test]
fn ugc_d_every_bad_signature_is_10004_and_says_why() {
    let svc = Service::start();
    let t = now();
    let apply = |sig: String| {
        call(
            &svc,
            "ApplyUploadUGC",
            &json!({"signature": sig, "videoType": "mp4", "videoName": "x"}),
        )
    };
    let with = |ts: u64, exp: u64| {
        ClientSignature {
            current_time_stamp: ts,
            expire_time: exp,
            ..sig_fields()
        }
        .sign(SECRET_KEY)
    };
    let stale = with(t - 7200, t - 10);
    refused(&apply(stale.clone()), 10004, "expired");
    refused(&apply(with(t, t + 7_776_001)), 10004, "90 days");
    ok(&apply(with(t, t + 7_776_000)));
    refused(&apply(with(t + 3600, t + 7200)), 10004, "in the future");
    let foreign = ClientSignature {
        secret_id: "AKIDnotAnAccountOfThisService000000".into(),
        ..sig_fields()
    };
    refused(&apply(foreign.sign(SECRET_KEY)), 10004, "secretId");
    refused(&apply(sig_fields().sign("not the key")), 10004, "HMAC");
    refused(&apply(tampered(&good())), 10004, "HMAC");
    refused(&apply("%%%".into()), 10004, "base64");
    // A signature URL-encoded on its way means the same (protocol.md §9.10).
    let plain = std::iter::repeat_with(good)
        .find(|s| s.contains(['+', '/', '=']))
        .unwrap();
    let encoded: String = url::form_urlencoded::byte_serialize(plain.as_bytes()).collect();
    assert!(encoded.contains('%'));
    ok(&apply(encoded));
    let float = format!(
        "secretId={SECRET_ID}&currentTimeStamp={t}.5&expireTime={}&random=7",
        t + 60
    );
    refused(&apply(ugc_sign(SECRET_KEY, &float)), 10004, "integer");
    let bad_setting = ClientSignature {
        task_notify_mode: Some("Sometimes".into()),
        ..sig_fields()
    };
    refused(
        &apply(bad_setting.sign(SECRET_KEY)),
        10001,
        "taskNotifyMode",
    );
    // A refused signature on a commit too.
    refused(
        &call(
            &svc,
            "CommitUploadUGC",
            &json!({"signature": with(t - 7200, t - 10), "vodSessionKey": "x"}),
        ),
        10004,
        "expired",
    );
    assert_eq!(svc.media_count(), 0);
    // Each refusal is logged with its action, code and reason, never with
    // the signature or a key.
    let log = svc.log();
    assert!(
        log.lines().any(|l| l.contains("family D request refused")
            && l.contains("ApplyUploadUGC")
            && l.contains("10004")
            && l.contains("expired")),
        "{log}"
    );
    assert!(!log.contains(&stale) && !log.contains(SECRET_KEY), "{log}");
}
#[test]
fn ugc_d_a_one_time_signature_serves_one_call_even_across_a_restart() {
    let mut svc = Service::start();
    let once = ClientSignature {
        one_time_valid: Some(true),
        ..sig_fields()
    }
    .sign(SECRET_KEY);
    let body = json!({"signature": once, "videoType": "mp4"});
    // A stranger who knows the signed text but not the key cannot spend
    // it: the forgery is refused and leaves nothing behind.
    let env = UgcEnvelope::decode(&once).unwrap();
    let mut forged = vec![0u8; 20];
    forged.extend_from_slice(env.original.as_bytes());
    use base64::Engine as _;
    let forged = base64::engine::general_purpose::STANDARD.encode(forged);
    refused(
        &call(
            &svc,
            "ApplyUploadUGC",
            &json!({"signature": forged, "videoType": "mp4"}),
        ),
        10004,
        "HMAC",
    );
    let a = ok(&call(&svc, "ApplyUploadUGC", &body));
    refused(
        &call(&svc, "ApplyUploadUGC", &body),
        10004,
        "duplicate vod signature",
    );
    svc.restart();
    refused(
        &call(&svc, "ApplyUploadUGC", &body),
        10004,
        "duplicate vod signature",
    );
    let key = a["vodSessionKey"].as_str().unwrap();
    refused(
        &call(
            &svc,
            "CommitUploadUGC",
            &json!({"signature": once, "vodSessionKey": key}),
        ),
        10004,
        "duplicate",
    );
    // A fresh one-time signature per call works.
    assert_eq!(
        cos_put(&svc, &a, &path_of(&a, "video"), b"0123456789").0,
        200
    );
    let fresh = ClientSignature {
        one_time_valid: Some(true),
        ..sig_fields()
    }
    .sign(SECRET_KEY);
    let c = ok(&call(
        &svc,
        "CommitUploadUGC",
        &json!({"signature": fresh, "vodSessionKey": key}),
    ));
    assert!(c["fileId"].is_string());
}
/// A second account of the service (in-process: accounts beyond the main
/// one are a configuration of tests).
const OTHER_ID: &str = "AKIDvodfsOtherAccount00000000000000000";
const OTHER_KEY: &str = "other+Account/Key=000000000000000";

async fn call_in(s: &TestServer, action: &str, body: &Value) -> Value {
    s.http
        .post(s.url(&format!("/v3/index.php?Action={action}")))
        .body(body.to_string())
        .send()
        .await
        .expect("family D call")
        .json()
        .await
        .expect("a JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ugc_d_another_accounts_signature_reaches_none_of_its_sessions_or_media() {
    let s = TestServer::start_temp(|c| {
        c.extra_accounts.push(vodfs::server::Account {
            secret_id: OTHER_ID.into(),
            secret_key: OTHER_KEY.into(),
            app_id: 1_250_000_009,
        });
    })
    .await;
    let other = ClientSignature {
        secret_id: OTHER_ID.into(),
        ..sig_fields()
    };
    let theirs = || other.clone().sign(OTHER_KEY);
    let a = ok(&call_in(
        &s,
        "ApplyUploadUGC",
        &json!({"signature": good(), "videoType": "mp4"}),
    )
    .await);
    let key = a["vodSessionKey"].as_str().unwrap();
    for action in ["ApplyUploadUGC", "CommitUploadUGC"] {
        let v = call_in(
            &s,
            action,
            &json!({"signature": theirs(), "vodSessionKey": key}),
        )
        .await;
        refused(&v, 31001, "no such upload session");
    }
    // The other account's own upload goes to its own bucket.
    let b = ok(&call_in(
        &s,
        "ApplyUploadUGC",
        &json!({"signature": theirs(), "videoType": "mp4"}),
    )
    .await);
    assert_ne!(b["storageBucket"], a["storageBucket"]);
    assert_eq!(b["storageAppId"], 1_250_000_009u64);
    // Nor can it replace a cover of the first account's media.
    let list = s.admin("/admin/media").await;
    assert!(list.as_array().unwrap().is_empty());
    let c = ok(&call_in(
        &s,
        "ApplyUploadUGC",
        &json!({"signature": good(), "videoType": "mp4"}),
    )
    .await);
    let c_key = c["vodSessionKey"].as_str().unwrap().to_string();
    let host = format!(
        "{}-{}.cos.ap-guangzhou.myqcloud.com",
        c["storageBucket"].as_str().unwrap(),
        c["storageAppId"]
    );
    let path = path_of(&c, "video");
    let cred = &c["tempCertificate"];
    let headers = vec![("host".to_string(), host.clone())];
    let auth = cos_authorization(
        cred["secretId"].as_str().unwrap(),
        cred["secretKey"].as_str().unwrap(),
        (now() - 60, now() + 600),
        "PUT",
        &path,
        &[],
        &headers,
    );
    let put = s
        .http
        .put(s.url(&path))
        .header("Host", &host)
        .header("Authorization", auth)
        .header("x-cos-security-token", cred["token"].as_str().unwrap())
        .body(b"mine".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
    let done = ok(&call_in(
        &s,
        "CommitUploadUGC",
        &json!({"signature": good(), "vodSessionKey": c_key}),
    )
    .await);
    let v = call_in(
        &s,
        "ApplyUploadUGC",
        &json!({"signature": theirs(), "fileId": done["fileId"], "coverType": "png"}),
    )
    .await;
    refused(&v, 5000, "no video");
}

#[test]
fn ugc_d_random_bodies_get_documented_codes_and_the_service_stays_up() {
    use rand::{Rng as _, SeedableRng as _};
    let mut svc = Service::start_limited(&["--no-rate-limit"], Some(2 << 30));
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let values = [
        json!(null),
        json!(true),
        json!(-1),
        json!(0),
        json!(1.5),
        json!(1e300),
        json!(u64::MAX),
        json!(""),
        json!("mp4"),
        json!("jpg"),
        json!("ap-guangzhou"),
        json!("1796130480425000000"),
        json!("../../etc/passwd"),
        json!("ünïcødé\u{0}\u{202e}"),
        json!("x".repeat(5000)),
        json!([1, 2, 3]),
        json!({"nested": {"deeper": [null]}}),
    ];
    let keys = [
        "videoName",
        "videoType",
        "videoSize",
        "coverName",
        "coverType",
        "coverSize",
        "vodSessionKey",
        "fileId",
        "storageRegion",
        "uploadFromWeb",
    ];
    let documented = [0, 10001, 10004, 31001, 5000];
    for round in 0..150 {
        let mut body = serde_json::Map::new();
        let signature = match rng.random_range(0..4) {
            0 => json!(good()),
            1 => values[rng.random_range(0..values.len())].clone(),
            2 => json!(ugc_sign(SECRET_KEY, "secretId=x&currentTimeStamp=1")),
            _ => json!(format!("{}=", good())),
        };
        body.insert("signature".into(), signature);
        for _ in 0..rng.random_range(0..6) {
            let k = keys[rng.random_range(0..keys.len())];
            body.insert(k.into(), values[rng.random_range(0..values.len())].clone());
        }
        let action = ["ApplyUploadUGC", "CommitUploadUGC", "PrepareUploadUGC"][round % 3];
        let v = call(&svc, action, &Value::Object(body.clone()));
        let code = v["code"].as_i64().unwrap_or(-1);
        assert!(documented.contains(&code), "{action} {body:?} → {v}");
        assert!(v["message"].is_string(), "{v}");
    }
    assert!(svc.is_running());
    assert_eq!(svc.media_count(), 0);
}
