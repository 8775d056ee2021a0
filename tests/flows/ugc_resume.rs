//! `--protocol ugc` resumes on a machine with only a signer: part-level
//! resume by the saved vodSessionKey across kill -9 and unmount (the bytes
//! sent after the remount bounded by what was missing), a clean restart
//! once the service has expired the session, and a temporary credential
//! renewed mid-file instead of starting over.

use std::process::Command;

use super::ugc_client::{asked, keyless_mount, signer};
use crate::common::*;

fn part_bytes(svc: &Service) -> u64 {
    svc.admin("/admin/stats")["partBytesReceived"]
        .as_u64()
        .expect("partBytesReceived")
}

/// Starts a 6-part file one part at a time against slowed COS parts and
/// kills the mount (SIGKILL) once three parts are held; returns the mount,
/// the file's bytes and the part bytes held at the kill.
fn kill_mid_upload(svc: &Service, cmd: &str) -> (Mount, Vec<u8>, u64) {
    let part = 1_048_576u64;
    let mut m = keyless_mount(
        svc,
        cmd,
        &[
            "--write-back=0.1",
            "--part-size=1048576",
            "--parallel-parts=1",
        ],
    );
    let data = random_bytes((6 * part + 7) as usize, 148);
    std::fs::write(m.path("big.mp4"), &data).expect("write");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while part_bytes(svc) < 3 * part {
        assert!(std::time::Instant::now() < deadline, "no parts arrived");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    m.kill9();
    let held = part_bytes(svc);
    assert!(
        held < data.len() as u64,
        "the whole file arrived before the kill"
    );
    svc.admin_put("/admin/faults", "off");
    (m, data, held)
}

/// Remounts `m` and checks that `name` resumed its saved session: it
/// commits once with `data`, and after the remount at most the bytes
/// missing at the stop (`held` part bytes were on the service) plus the one
/// part in flight were sent.
fn assert_resumed(svc: &Service, m: &mut Mount, name: &str, data: &[u8], held: u64) {
    m.start();
    let path = m.path(name);
    wait(&[&path]);
    assert_committed(svc, &path, data);
    assert_eq!(svc.media_count(), 1, "committed once");
    let len = data.len() as u64;
    let after = part_bytes(svc) - held;
    println!("ugc: {len} bytes; {held} held at the stop; {after} sent after the remount");
    assert!(
        after <= len - held + 1_048_576,
        "{after} bytes sent after the remount, only {} were missing (+ one part in flight)",
        len - held
    );
    assert!(
        m.log().contains("resuming the saved upload session"),
        "{}",
        m.log()
    );
}

/// kill -9 mid-upload, remount: ApplyUploadUGC with the saved
/// vodSessionKey, ListParts, and only the missing parts are sent (at most
/// the one in flight at the kill again); one media.
#[test]
fn ugc_killed_mid_upload_resumes_from_the_parts_cos_holds() {
    let svc = Service::start_with(&[
        "--faults",
        "rate=1,seed=1,kinds=slow,slow_ms=150,actions=CosPut",
    ]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cmd, _log) = signer(tmp.path(), "");
    let (mut m, data, held) = kill_mid_upload(&svc, &cmd);
    assert_resumed(&svc, &mut m, "big.mp4", &data, held);
}

/// A session the service has expired (a day old): the remount's resume
/// is refused, the file starts over cleanly with a new session and commits
/// once.
#[test]
fn ugc_an_expired_session_starts_over_cleanly() {
    let svc = Service::start_with(&[
        "--faults",
        "rate=1,seed=1,kinds=slow,slow_ms=150,actions=CosPut",
    ]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cmd, _log) = signer(tmp.path(), "");
    let (mut m, data, _held) = kill_mid_upload(&svc, &cmd);
    let expired = svc.admin_post("/admin/expire-sessions");
    assert!(expired["expired"].as_u64() >= Some(1), "{expired}");
    m.start();
    let path = m.path("big.mp4");
    wait(&[&path]);
    assert_committed(&svc, &path, &data);
    assert_eq!(svc.media_count(), 1, "committed once");
    assert!(
        m.log().contains("starting afresh with a new session"),
        "{}",
        m.log()
    );
}

/// A file that outlasts its temporary credential (2 s, parts slowed to
/// 600 ms each, one at a time): the credential is renewed with the
/// session's vodSessionKey, the file is never started over, and every part
/// is sent once.
#[test]
fn ugc_a_credential_running_out_mid_file_is_renewed_without_starting_over() {
    let svc = Service::start_with(&[
        "--faults",
        "rate=1,seed=1,kinds=slow,slow_ms=600,actions=CosPut",
    ]);
    svc.admin_put("/admin/temp-credential-ttl", "2");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cmd, log) = signer(tmp.path(), "");
    let m = keyless_mount(&svc, &cmd, &["--part-size=1048576", "--parallel-parts=1"]);
    let data = random_bytes(6 * 1_048_576 + 3, 152);
    let (_d, src) = local_file("long.mp4", &data);
    run(Command::new("cp").arg(&src).arg(m.path("long.mp4")));
    assert_committed(&svc, &m.path("long.mp4"), &data);
    assert!(
        m.log()
            .contains("renewed the session's temporary credential"),
        "{}",
        m.log()
    );
    assert!(!m.log().contains("with a new session"), "{}", m.log());
    assert_eq!(part_bytes(&svc), data.len() as u64, "a part was sent twice");
    let applies = asked(&log)
        .iter()
        .filter(|c| *c == "ApplyUploadUGC")
        .count();
    assert!(applies >= 2, "no renewal asked the signer: {applies}");
}

/// A clean unmount in the middle of an upload (the unmount waits its
/// bounded time, then leaves the upload recorded): the remount resumes the
/// session from the parts COS holds.
#[test]
fn ugc_an_unmount_mid_upload_resumes_at_the_next_mount() {
    let svc = Service::start_with(&[
        "--faults",
        "rate=1,seed=1,kinds=slow,slow_ms=1500,actions=CosPut",
    ]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cmd, _log) = signer(tmp.path(), "");
    let part = 1_048_576u64;
    let mut m = keyless_mount(
        &svc,
        &cmd,
        &[
            "--write-back=0.1",
            "--part-size=1048576",
            "--parallel-parts=1",
        ],
    );
    let data = random_bytes((30 * part + 11) as usize, 155);
    let len = data.len() as u64;
    std::fs::write(m.path("long.mp4"), &data).expect("write");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while part_bytes(&svc) < 2 * part {
        assert!(std::time::Instant::now() < deadline, "no parts arrived");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    m.unmount();
    assert!(
        m.log()
            .contains("uploads still in flight stay recorded and resume at the next mount"),
        "the unmount did not leave the upload recorded: {}",
        m.log()
    );
    let held = part_bytes(&svc);
    assert!(
        held < len,
        "the whole file arrived before the unmount ended"
    );
    assert_eq!(svc.media_count(), 0);
    svc.admin_put("/admin/faults", "off");
    assert_resumed(&svc, &mut m, "long.mp4", &data, held);
}

/// One call in five fails the way the service fails (a retryable negative
/// code, a 503, a connection dropped after the service acted) on every
/// family D call and every COS request, with one-time signatures: every
/// file commits exactly once with its bytes.
#[test]
fn ugc_under_faults_every_file_commits_once() {
    let svc = Service::start_with(&[
        "--faults",
        "rate=0.2,seed=11,kinds=negative+5xx+drop,\
         actions=ApplyUploadUGC+CommitUploadUGC+CosPut+CosPost+CosGet",
    ]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cmd, _log) = signer(tmp.path(), "--one-time");
    let m = keyless_mount(&svc, &cmd, &["--part-size=1048576"]);
    let files: Vec<(String, Vec<u8>)> = (0..6)
        .map(|i| {
            let len = [10, 900_000, 1_048_576, 2_500_000, 3_145_728 + 1, 4_000_000][i];
            (format!("f{i}.mp4"), random_bytes(len, 160 + i as u64))
        })
        .collect();
    for (name, bytes) in &files {
        std::fs::write(m.path(name), bytes).expect("close succeeds under faults");
    }
    for (name, bytes) in &files {
        assert_committed(&svc, &m.path(name), bytes);
    }
    assert_eq!(svc.media_count(), files.len(), "each file is one media");
    let retried = m.log().matches("retrying").count();
    assert!(retried >= 1, "no fault was met:\n{}", m.log());
    println!("ugc under faults: {retried} calls retried");
}
