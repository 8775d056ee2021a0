//! `--log-file`: the log goes to the file, and a failed upload is one line
//! naming the file, the action, the service's code and message.

use std::process::Command;

use crate::common::*;

#[test]
fn failed_upload_is_one_log_line_in_the_log_file() {
    let svc = Service::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("vodfs.log");
    let log_arg = log.to_str().expect("utf-8 path");
    // ugc-ex signs locally with the key given: its credentials are
    // checked by the first upload (v4, apply and API 3.0 check them at
    // mount time: outage_client_a_service_that_refuses_the_credentials…).
    let m = Mount::with_args(
        &svc,
        &[
            "--protocol",
            "ugc-ex",
            "--secret-key",
            "wrong-key",
            "--log-file",
            log_arg,
        ],
    );
    // close() fails with EIO (see tests/mount/semantics.rs); std ignores it.
    let _ = std::fs::write(m.path("bad clip.mp4"), b"some bytes");
    assert_eq!(
        getfattr(&m.path("bad clip.mp4"), "user.vod.state").as_deref(),
        Some("failed")
    );
    let text = std::fs::read_to_string(&log).expect("the log file exists");
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("upload failed"))
        .collect();
    assert_eq!(failed.len(), 1, "one failure line expected in:\n{text}");
    let line = failed[0];
    assert!(line.contains("bad clip.mp4"), "file not named: {line}");
    assert!(line.contains("WARN"), "not a warning: {line}");
    // The action, the service's code and its message.
    // e.g. `error=InitUpload: service code -10002 (AuthFailure): signature …`
    // or `error=ApplyUpload: service code AuthFailure.SignatureFailure: …`
    let action = line
        .split_once("error=")
        .and_then(|(_, e)| e.split_once(':'))
        .map(|(a, _)| a)
        .unwrap_or_default();
    assert!(
        !action.is_empty() && action.chars().all(|c| c.is_ascii_alphanumeric()),
        "action not named: {line}"
    );
    assert!(line.contains("service code"), "{line}");
    // v4's message, or API 3.0's (the default flow).
    let message = [
        "signature does not match",
        "Please check your signature is correct",
    ]
    .into_iter()
    .find(|m| line.contains(m))
    .unwrap_or_else(|| panic!("message: {line}"));
    assert!(
        line.contains("AuthFailure") || line.contains("-10002") || line.contains("4100"),
        "service code not named: {line}"
    );
    // The failed close is logged by the FUSE adapter with its cause chain:
    // each cause once (was `flush failed: commit failed: X: X`).
    let flush: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("flush failed"))
        .collect();
    assert_eq!(
        flush.len(),
        1,
        "one flush failure line expected in:\n{text}"
    );
    assert!(flush[0].contains("commit failed"), "{}", flush[0]);
    assert_eq!(
        flush[0].matches(message).count(),
        1,
        "a cause repeated: {}",
        flush[0]
    );
    assert_eq!(flush[0].matches("service code").count(), 1, "{}", flush[0]);
    assert!(!text.contains("wrong-key"), "the secret reached the log");
    // Nothing but the mount's own output went to stderr.
    assert!(!m.log().contains("upload failed"), "{}", m.log());
    drop(m);

    // serve --log-file: the service's log lands in its file too.
    let slog = dir.path().join("serve.log");
    let s = Service::start_with(&["--log-file", slog.to_str().expect("utf-8")]);
    let _ = run(Command::new("curl").args(["-sf", &format!("{}/", s.url)]));
    drop(s);
    assert!(slog.exists(), "serve did not create its log file");
}
