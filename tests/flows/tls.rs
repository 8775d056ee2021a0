//! The https path of the mount against a local TLS endpoint whose
//! certificate comes from a CA the test made: trusted through `--ca-file`
//! or `SSL_CERT_FILE`, refused (EIO at close, the reason in
//! `user.vod.error`) when nothing names that CA. Every client of the mount
//! is built by `vod::tls::client_builder`, so one flow proves the path.

use std::process::Command;

use crate::common::*;

fn cp_commits(m: &Mount, svc: &Service, name: &str, seed: u64) {
    let src = tempfile::tempdir().expect("tempdir");
    let data = random_bytes((1 << 20) + 77, seed);
    std::fs::write(src.path().join(name), &data).expect("write");
    run(Command::new("cp")
        .arg(src.path().join(name))
        .arg(m.path(name)));
    assert_committed(svc, &m.path(name), &data);
}

#[test]
fn https_with_a_test_ca_given_by_ca_file_commits() {
    let svc = Service::start();
    let proxy = TlsProxy::start(&svc.addr);
    let ca = proxy.ca_pem.to_str().expect("utf-8 path");
    let m = Mount::with_endpoint(&proxy.url, &["--protocol", "v4", "--ca-file", ca], &[]);
    cp_commits(&m, &svc, "over tls.mp4", 91);
    assert!(
        m.log().contains("trusting extra CA certificates"),
        "{}",
        m.log()
    );
}

#[test]
fn https_with_a_test_ca_given_by_ssl_cert_file_commits() {
    let svc = Service::start();
    let proxy = TlsProxy::start(&svc.addr);
    let ca = proxy.ca_pem.to_str().expect("utf-8 path");
    let m = Mount::with_endpoint(&proxy.url, &["--protocol", "v4"], &[("SSL_CERT_FILE", ca)]);
    cp_commits(&m, &svc, "env ca.mp4", 92);
}

#[test]
fn https_with_an_unknown_ca_fails_the_close_naming_the_certificate() {
    let svc = Service::start();
    let proxy = TlsProxy::start(&svc.addr);
    let m = Mount::with_endpoint(&proxy.url, &["--protocol", "v4"], &[]);
    let err = write_expecting_failed_close(&m.path("untrusted.mp4"), b"some bytes");
    assert!(
        err.to_ascii_lowercase().contains("certificate"),
        "user.vod.error does not say why: {err}"
    );
    assert_eq!(
        svc.admin("/admin/media").as_array().map(Vec::len),
        Some(0),
        "nothing may reach the service"
    );
}

#[test]
fn a_ca_file_that_is_not_a_certificate_stops_the_mount_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("not-a-ca.pem");
    std::fs::write(&bad, "hello").expect("write");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    let out = Command::new(vodfs_bin())
        .args([
            "mount",
            "--foreground",
            "--endpoint",
            "https://127.0.0.1:9",
            "--cache",
        ])
        .arg(dir.path().join("cache"))
        .arg("--ca-file")
        .arg(&bad)
        .arg(&mnt)
        .env("VODFS_SECRET_ID", SECRET_ID)
        .env("VODFS_SECRET_KEY", SECRET_KEY)
        .output()
        .expect("vodfs mount");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not-a-ca.pem"), "{stderr}");
    assert!(!is_mounted(&mnt));
}

/// The default flow over https: API 3.0 calls and the object storage
/// requests (to the endpoint's address with the bucket's Host) both go
/// through the test CA's endpoint.
#[test]
fn api3_over_https_with_a_test_ca_commits() {
    let svc = Service::start();
    let proxy = TlsProxy::start(&svc.addr);
    let ca = proxy.ca_pem.to_str().expect("utf-8 path");
    let m = Mount::with_endpoint(&proxy.url, &["--protocol", "api3", "--ca-file", ca], &[]);
    cp_commits(&m, &svc, "api3 over tls.mp4", 93);
    let media = svc.admin("/admin/media");
    assert!(media.to_string().contains("\"flow\":\"api3\""), "{media}");
}
