//! What only the api3 flow has: a temporary credential that runs out
//! mid-file (the file starts over with a new session and commits; one no
//! credential outlives fails clearly), the service's refusals (EIO at
//! close, `user.vod.error` with the code, the message and the parameter),
//! and the media as the official SDK's DescribeMediaInfos sees them.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

fn part_bytes(svc: &Service) -> u64 {
    svc.admin("/admin/stats")["partBytesReceived"]
        .as_u64()
        .expect("partBytesReceived")
}

/// The service's credentials all expire now (`POST /admin/expire-credentials`).
fn expire_credentials(svc: &Service) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/admin/expire-credentials", svc.url))
        .header("X-Vodfs-Admin", "1")
        .send()
        .expect("admin request");
    assert!(resp.status().is_success(), "{}", resp.status());
}

/// Parts are sent one at a time against a slowed service; once two are
/// held, every credential expires. The mount applies for a new session,
/// sends the file again and commits it once, with the exact bytes.
#[test]
fn a_credential_that_expires_mid_file_starts_it_over_and_commits() {
    let svc = Service::start_with(&[
        "--faults",
        "rate=1,seed=1,kinds=slow,slow_ms=150,actions=CosPut",
    ]);
    let flow = Flow::named("api3");
    let m = flow.mount(
        &svc,
        &[
            "--write-back=0.1",
            "--part-size=1048576",
            "--parallel-parts=1",
        ],
    );
    let part = 1_048_576u64;
    let data = random_bytes((6 * part + 7) as usize, 93);
    std::fs::write(m.path("long.mp4"), &data).expect("write");
    let deadline = Instant::now() + Duration::from_secs(120);
    while part_bytes(&svc) < 2 * part {
        assert!(Instant::now() < deadline, "no parts arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    expire_credentials(&svc);
    let held = part_bytes(&svc);
    assert!(held < data.len() as u64, "the whole file arrived first");
    svc.admin_put("/admin/faults", "off");
    let path = m.path("long.mp4");
    wait(&[&path]);
    let c = assert_committed(&svc, &path, &data);
    assert_eq!(svc.media_count(), 1, "{}", c.record);
    assert!(
        m.log()
            .contains("starting the file over with a new session"),
        "{}",
        m.log()
    );
    println!(
        "api3: {} bytes; {held} sent with the first credential; {} in all",
        data.len(),
        part_bytes(&svc)
    );
}

/// A type API 3.0 does not take (a name without an extension is sent as
/// `bin`): the service refuses ApplyUpload; close answers EIO and
/// `user.vod.error` names the code, the message and the parameter.
#[test]
fn a_refused_apply_upload_fails_the_close_with_code_message_and_parameter() {
    let svc = Service::start();
    let m = Flow::named("api3").mount(&svc, &[]);
    let (_d, src) = local_file("noext", &random_bytes(3000, 94));
    let out = Command::new("cp")
        .arg(&src)
        .arg(m.path("noext"))
        .output()
        .expect("cp");
    assert!(!out.status.success(), "cp succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Input/output error"), "{stderr}");
    let error = getfattr(&m.path("noext"), "user.vod.error").expect("user.vod.error");
    assert!(
        error.contains("ApplyUpload")
            && error.contains("InvalidParameterValue.MediaType")
            && error.contains("parameter MediaType = \"bin\""),
        "{error}"
    );
    assert!(
        !error.contains("AKID") && !error.contains("Signature"),
        "{error}"
    );
    assert_eq!(
        getfattr(&m.path("noext"), "user.vod.state").as_deref(),
        Some("failed")
    );
    assert_eq!(svc.media_count(), 0);
}

/// What the mount uploaded, as the official SDK's DescribeMediaInfos sees
/// it: cp of a multi-part file and of a real MP4 into a directory with a
/// class, a source context, an expiry and a storage region, rsync of the same tree (nothing sent twice),
/// ffmpeg writing into the mount, write-back and `vodfs wait`; each media's
/// name, class, source context, expiry, storage region and size (and
/// duration) are checked.
#[test]
fn the_official_sdk_describes_what_the_mount_uploaded() {
    let Some(py) = sdk_python() else { return };
    let svc = Service::start();
    let m = Flow::named("api3").mount(&svc, &["--write-back=0.1", "--sub-app-id", "1500000001"]);
    std::fs::create_dir(m.path("shows")).expect("mkdir");
    setfattr(&m.path("shows"), "user.vod.class_id", "5").expect("class");
    setfattr(&m.path("shows"), "user.vod.source_context", "from vodfs").expect("ctx");
    setfattr(&m.path("shows"), "user.vod.session_context", "session ctx").expect("sess");
    setfattr(
        &m.path("shows"),
        "user.vod.expire_time",
        "2031-02-03T04:05:06Z",
    )
    .expect("exp");
    setfattr(&m.path("shows"), "user.vod.storage_region", "ap-chongqing").expect("region");
    let src = tempfile::tempdir().expect("tempdir");
    let random = random_bytes(3 * 1_048_576 + 5, 95);
    std::fs::write(src.path().join("random.mp4"), &random).expect("write");
    let mp4 = make_mp4(src.path(), "real.mp4", 2);
    let mp4_bytes = std::fs::read(&mp4).expect("read mp4");
    run(Command::new("cp")
        .arg(src.path().join("random.mp4"))
        .arg(src.path().join("real.mp4"))
        .arg(m.path("shows")));
    let from = format!("{}/", src.path().display());
    let to = format!("{}/", m.path("shows/sync").display());
    std::fs::create_dir(m.path("shows/sync")).expect("mkdir");
    run(Command::new("rsync").args(["-a", &from, &to]));
    run(Command::new("rsync").args(["-a", &from, &to]));
    let ff = m.path("shows/ff.mp4");
    run(Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(&mp4)
        .args(["-c", "copy"])
        .arg(&ff));
    let ff_bytes = std::fs::read(&ff).expect("read ff");
    let files = [
        ("shows/random.mp4", "random", &random, false),
        ("shows/real.mp4", "real", &mp4_bytes, true),
        ("shows/sync/random.mp4", "random", &random, false),
        ("shows/sync/real.mp4", "real", &mp4_bytes, true),
        ("shows/ff.mp4", "ff", &ff_bytes, true),
    ];
    let paths: Vec<_> = files.iter().map(|f| m.path(f.0)).collect();
    let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    wait(&refs);
    let mut expect = Vec::new();
    for (rel, name, bytes, video) in files {
        let c = assert_committed(&svc, &m.path(rel), bytes);
        expect.push(serde_json::json!({
            "FileId": c.file_id, "Name": name, "ClassId": 5,
            "SourceContext": "from vodfs", "Size": bytes.len(), "Video": video,
            "ExpireTime": "2031-02-03T04:05:06Z", "StorageRegion": "ap-chongqing",
        }));
    }
    assert_eq!(svc.media_count(), 5, "the second rsync sent nothing");
    let out = Command::new(py)
        .arg("describe_mount_media.py")
        .current_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk"))
        .env("VODFS_ADDR", &svc.addr)
        .env("VODFS_SECRET_ID", SECRET_ID)
        .env("VODFS_SECRET_KEY", SECRET_KEY)
        .env("VODFS_EXPECT", serde_json::Value::Array(expect).to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "done"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A credential too short-lived for the file (2 s, parts slowed to 600 ms
/// each): every new session runs out too, so after the restarts the close
/// fails with EIO and `user.vod.error` says why.
#[test]
fn a_file_that_no_credential_outlives_fails_with_a_clear_error() {
    let svc = Service::start_with(&[
        "--faults",
        "rate=1,seed=1,kinds=slow,slow_ms=600,actions=CosPut",
    ]);
    svc.admin_put("/admin/temp-credential-ttl", "2");
    let m = Flow::named("api3").mount(&svc, &["--part-size=1048576", "--parallel-parts=1"]);
    let (_d, src) = local_file("long.mp4", &random_bytes(6 * 1_048_576, 96));
    let out = Command::new("cp")
        .arg(&src)
        .arg(m.path("long.mp4"))
        .output()
        .expect("cp");
    assert!(!out.status.success(), "cp succeeded");
    let error = getfattr(&m.path("long.mp4"), "user.vod.error").expect("user.vod.error");
    assert!(
        error.contains("session expired") && error.contains("temporary credential"),
        "{error}"
    );
    assert!(
        !error.contains("AKID") && !error.contains("Token"),
        "{error}"
    );
    assert_eq!(svc.media_count(), 0);
    let restarts = m.log().matches("with a new session").count();
    assert_eq!(restarts, 3, "{}", m.log());
}
