//! What only the api3 flow has: a temporary credential that runs out
//! mid-file (the file starts over with a new session and commits), and the
//! service's refusals (EIO at close, `user.vod.error` with the code, the
//! message and the parameter).

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
