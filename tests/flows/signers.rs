//! UGC signatures from outside the mount: an app signing service on
//! loopback (`--ugc-signer URL`) and a command (`--ugc-signer-cmd`), both
//! answering with `vodfs sign ugc`; an expired signature fails the upload
//! with a clear `user.vod.error`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;

use crate::common::*;

/// The query strings a [`url_signer`] was sent.
pub(super) type Seen = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A one-thread HTTP signer on loopback: `GET /sign?fileSha=…` answers with
/// the output of `vodfs sign ugc`. Returns its URL and a request counter.
fn url_signer() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let (url, count, _) = url_signer_seen();
    (url, count)
}

/// [`url_signer`], also keeping every query string it was sent.
pub(super) fn url_signer_seen() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/sign", listener.local_addr().expect("addr"));
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    let queries = Seen::default();
    let kept = queries.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Skip the headers.
            let mut h = String::new();
            while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
                h.clear();
            }
            let target = line.split(' ').nth(1).unwrap_or("/");
            let u = url::Url::parse(&format!("http://x{target}")).expect("request url");
            kept.lock()
                .expect("lock")
                .push(u.query().unwrap_or_default().to_string());
            let q: std::collections::HashMap<String, String> =
                u.query_pairs().into_owned().collect();
            let get = |k: &str| q.get(k).cloned().unwrap_or_default();
            let mut sign = Command::new(vodfs_bin());
            sign.args(["sign", "ugc"]);
            for (param, flag) in [
                ("signature", "--format"),
                ("classId", "--class-id"),
                ("tags", "--tags"),
                ("procedure", "--procedure"),
                ("sourceContext", "--source-context"),
            ] {
                if let Some(v) = q.get(param) {
                    sign.args([flag, v]);
                }
            }
            let v4 = get("signature") == "v4";
            if v4 {
                sign.args(["--file-sha", &get("fileSha")])
                    .args(["--file-name", &get("fileName")])
                    .args(["--file-type", &get("fileType")]);
            }
            let out = sign
                .args(["--file-size", &get("fileSize")])
                .env("VODFS_SECRET_ID", SECRET_ID)
                .env("VODFS_SECRET_KEY", SECRET_KEY)
                .output()
                .expect("vodfs sign ugc");
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (status, body) = if out.status.success() {
                ("200 OK", out.stdout)
            } else {
                ("500 Internal Server Error", out.stderr)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    (url, count, queries)
}

#[test]
fn url_signer_signs_each_file() {
    let svc = Service::start();
    let (url, count) = url_signer();
    let m = Flow::named("ugc-ex").mount(&svc, &["--ugc-signer", &url]);
    std::fs::create_dir(m.path("d")).expect("mkdir");
    super::setfattr(&m.path("d"), "user.vod.class_id", "21").expect("setfattr");
    super::setfattr(&m.path("d"), "user.vod.tags", "x,y").expect("setfattr");
    let a = random_bytes(1_500_000, 51);
    std::fs::write(m.path("d/a.mp4"), &a).expect("write");
    let c = assert_committed(&svc, &m.path("d/a.mp4"), &a);
    assert_eq!(c.record["flow"].as_str(), Some("B"));
    // The settings reached the signer and, inside the signature, the service.
    assert_eq!(c.record["classId"], 21, "{}", c.record);
    assert_eq!(
        c.record["tags"],
        serde_json::json!(["x", "y"]),
        "{}",
        c.record
    );
    let b = random_bytes(10, 52);
    std::fs::write(m.path("b.mov"), &b).expect("write");
    assert_committed(&svc, &m.path("b.mov"), &b);
    assert!(count.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    assert_eq!(svc.media_count(), 2);
}

#[test]
fn command_signer_signs_from_the_environment() {
    let svc = Service::start();
    // The mount's environment has the test account; `vodfs sign ugc` reads
    // VODFS_FILE_* the signer command is given.
    let cmd = format!("'{}' sign ugc", vodfs_bin());
    let m = Flow::named("ugc-ex").mount(&svc, &["--ugc-signer-cmd", &cmd]);
    let a = random_bytes(2_100_000, 53);
    std::fs::write(m.path("a.mp4"), &a).expect("write");
    let c = assert_committed(&svc, &m.path("a.mp4"), &a);
    assert_eq!(c.record["flow"].as_str(), Some("B"));
}

#[test]
fn an_expired_signature_fails_with_a_clear_error() {
    let svc = Service::start();
    let cmd = format!("'{}' sign ugc --time 1000000000 --validity 60", vodfs_bin());
    let m = Flow::named("ugc-ex").mount(&svc, &["--ugc-signer-cmd", &cmd]);
    let a = random_bytes(1000, 54);
    let why = write_expecting_failed_close(&m.path("a.mp4"), &a);
    assert!(
        why.contains("expired") && why.contains("InitUploadEx"),
        "user.vod.error: {why}"
    );
    assert!(m.log().contains("expired"), "no log line says why");
    assert_eq!(svc.media_count(), 0);
}

#[test]
fn a_signer_command_given_with_dash_o_may_hold_escaped_commas() {
    let svc = Service::start();
    // `\,` keeps the comma inside the -o value: the command signs with two
    // tags, and the service records them from the signature.
    let opts = format!(
        r"protocol=ugc-ex,ugc_signer_cmd='{}' sign ugc --tags p\,q",
        vodfs_bin()
    );
    let m = Mount::with_args(&svc, &["-o", &opts]);
    let a = random_bytes(1000, 55);
    std::fs::write(m.path("a.mp4"), &a).expect("write");
    let c = assert_committed(&svc, &m.path("a.mp4"), &a);
    assert_eq!(c.record["flow"].as_str(), Some("B"));
    assert_eq!(
        c.record["tags"],
        serde_json::json!(["p", "q"]),
        "{}",
        c.record
    );
}
