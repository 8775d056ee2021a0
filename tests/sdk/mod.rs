//! The official Python SDKs as independent clients of `vodfs serve`
//! (protocol-api3.md §4): each test starts a [`Service`], runs one script
//! of this directory with the SDK virtual environment's python, and checks
//! that every check it printed (`ok <name>`) passed and that it ran to the
//! end (`done`). Nothing of the SDKs is patched but their endpoint (and,
//! for vod-python-sdk, the 8-line endpoint shim of §4.3).
//!
//! The environment is `scripts/install-sdks`'s, found by
//! `common::sdk_python` (skipped when absent unless `VODFS_REQUIRE_SDKS`).

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Runs `script` against `svc`; its output.
fn run_script(py: &Path, svc: &Service, script: &str) -> String {
    run_script_with(py, svc, script, &[])
}

/// Runs `script` against `svc` with more environment.
fn run_script_with(py: &Path, svc: &Service, script: &str, env: &[(&str, &Path)]) -> String {
    let mut cmd = Command::new(py);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .arg(sdk_dir().join(script))
        .current_dir(sdk_dir())
        .env("VODFS_ADDR", &svc.addr)
        .env("VODFS_SECRET_ID", SECRET_ID)
        .env("VODFS_SECRET_KEY", SECRET_KEY)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("running the SDK script");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "done"),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(!stdout.contains("FAIL "), "{script}:\n{stdout}");
    stdout
}

/// Asserts that each named check passed.
fn assert_checks(out: &str, names: &[&str]) {
    for n in names {
        assert!(
            out.lines().any(|l| l == format!("ok {n}")),
            "check {n:?} did not pass:\n{out}"
        );
    }
}

#[test]
fn tencentcloud_sdk_uploads_describes_and_is_refused_where_it_should_be() {
    let Some(py) = sdk_python() else { return };
    let svc = Service::start();
    let out = run_script(&py, &svc, "tencentcloud_api.py");
    assert_checks(
        &out,
        &[
            "POST commit answers a media",
            "GET commit answers a media",
            "POST double commit gives the same media",
            "POST describe basic info",
            "GET describe size",
            "v1 HmacSHA256 POST apply and commit",
            "v1 HmacSHA1 GET apply and commit",
            "wrong key",
            "unknown SecretId",
            "clock skew",
            "wrong version",
            "POST body changed after signing",
            "GET body changed after signing",
            "missing MediaType",
            "bad MediaType",
            "garbled session key",
            "POST commit before the object exists",
        ],
    );
    let api3: Vec<_> = svc
        .media()
        .into_iter()
        .filter(|m| m["flow"] == "api3")
        .collect();
    assert!(api3.len() >= 4, "the media page's records show api3 media");
}

#[test]
fn cos_sdk_writes_with_the_temporary_credential_and_is_refused_without_it() {
    let Some(py) = sdk_python() else { return };
    let svc = Service::start();
    let out = run_script(&py, &svc, "cos_temp_credential.py");
    assert_checks(
        &out,
        &[
            "put_object with the temporary credential",
            "multipart media serves the bytes",
            "upload_file media serves the bytes",
            "missing token refused",
            "wrong token refused",
            "another session's object refused",
            "expired credential refused",
            "the account's own key works",
            "a committed session's credential still works until it expires",
        ],
    );
}

#[test]
fn ugc_d_cos_sdk_uploads_resumes_by_session_key_and_replaces_a_cover() {
    let Some(py) = sdk_python() else { return };
    let svc = Service::start();
    let out = run_script(&py, &svc, "ugc_d_cos.py");
    assert_checks(
        &out,
        &[
            "upload_file video serves its bytes",
            "its cover serves its bytes",
            "the signature's settings are on the media",
            "DescribeMediaInfos shows the signature's settings",
            "resume answers the same storagePath",
            "resume answers a fresh credential",
            "the fresh credential finds the upload",
            "list_parts shows the parts sent before",
            "only the missing part was sent again",
            "the resumed upload commits whole",
            "the new cover replaces the old",
            "the media shows the new cover",
            "missing token refused",
            "another session's object refused",
            "expired credential refused",
            "a resume after expiry writes again",
        ],
    );
}

#[test]
fn vod_sdk_uploads_a_video_with_a_cover_through_the_endpoint_shim() {
    let Some(py) = sdk_python() else { return };
    let svc = Service::start();
    let dir = tempfile::tempdir().expect("tmp");
    let mp4 = make_mp4(dir.path(), "real.mp4", 2);
    let out = run_script_with(&py, &svc, "vod_upload.py", &[("VODFS_MP4", &mp4)]);
    assert_checks(
        &out,
        &[
            "mp4 MediaUrl serves the exact bytes",
            "mp4 CoverUrl serves the exact bytes",
            "mp4 name, class, source context",
            "mp4 duration, width, height",
            "multipart MediaUrl serves the exact bytes",
            "multipart size",
        ],
    );
    let stats = svc.admin("/admin/stats");
    assert!(
        stats["partsReceived"].as_u64().unwrap_or(0) >= 4,
        "the 3.3 MB file went multipart: {stats}"
    );
    let media = svc.media();
    let video = media
        .iter()
        .find(|m| m["name"] == "real video")
        .expect("the media page's records hold the upload");
    assert_eq!(video["flow"], "api3");
    assert!(video["coverUrl"].is_string(), "{video}");
}
