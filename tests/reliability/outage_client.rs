//! Issue 13, the mount's side: outages are ridden out, visible while they
//! last, resumed from what the service holds, and a mount whose endpoint
//! does not answer mounts anyway. Real `vodfs serve` killed with SIGKILL
//! and started again on the same address, real mounts, real `vodfs
//! wait`/`status`. (The end-to-end runs through a controllable proxy are
//! `reliability::outage`.)

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

/// Waits (up to `within`) until `path` shows `state`; panics with the log.
fn wait_for_state(m: &Mount, path: &Path, state: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = getfattr(path, "user.vod.state");
        if now.as_deref() == Some(state) {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{}: state {now:?}, never {state}; log:\n{}",
                path.display(),
                tail(&m.log(), 40)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes `bytes` to a new file and closes it with close(2), asserting
/// the close fails with EIO; returns the error's text.
fn write_expecting_eio(path: &Path, bytes: &[u8]) -> String {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).expect("create");
    f.write_all(bytes).expect("write");
    let fd = std::os::fd::IntoRawFd::into_raw_fd(f);
    // SAFETY: we own fd and close it once.
    let rc = unsafe { libc::close(fd) };
    let e = std::io::Error::last_os_error();
    assert_eq!(rc, -1, "close must fail");
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    e.to_string()
}

/// How many log lines contain `needle`.
fn lines_with(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// Checks what a waiting file shows: its error names the call, the cause,
/// since when and the next try; its progress is not reset.
fn assert_shows_waiting(path: &Path) {
    assert_eq!(getfattr(path, "user.vod.state").as_deref(), Some("waiting"));
    let error = getfattr(path, "user.vod.error").expect("user.vod.error while waiting");
    println!("outage: {}: user.vod.error = {error}", path.display());
    assert!(error.contains("transport error"), "{error}");
    assert!(error.contains("service unreachable since "), "{error}");
    assert!(error.contains("; next try in "), "{error}");
    assert!(getfattr(path, "user.vod.next_try").is_some());
    assert!(getfattr(path, "user.vod.waiting_since").is_some());
}

#[test]
fn outage_client_a_close_rides_out_a_service_restart() {
    let mut svc = Service::start();
    let m = Mount::new(&svc);
    let bytes = random_bytes(3 * 1024 * 1024 + 77, 13_001);
    svc.kill();
    // The close waits (default mode) while the service is away.
    let path = m.path("ride.mp4");
    let writer = {
        let (path, bytes) = (path.clone(), bytes.clone());
        std::thread::spawn(move || std::fs::write(&path, &bytes))
    };
    wait_for_state(&m, &path, "waiting", Duration::from_secs(60));
    assert_shows_waiting(&path);
    let status = m.ctl(&["status"], std::slice::from_ref(&m.mountpoint));
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    println!("outage: vodfs status while waiting:\n{status}");
    assert!(
        status.contains("service unreachable since ")
            && status.contains("1 file waiting, next try in "),
        "{status}"
    );
    assert!(
        !writer.is_finished(),
        "the close returned while the service was away"
    );
    svc.restart();
    writer
        .join()
        .expect("writer")
        .expect("close after the service came back");
    assert_committed(&svc, &path, &bytes);
    assert_eq!(svc.media_count(), 1);
    let log = m.log();
    assert_eq!(lines_with(&log, "service unreachable since"), 1, "{log}");
    assert_eq!(lines_with(&log, "service reachable again"), 1, "{log}");
}

#[test]
fn outage_client_a_close_fails_after_retry_for_and_the_file_commits_by_itself() {
    let mut svc = Service::start();
    let m = Mount::with_args(&svc, &["--retry-for", "2s"]);
    svc.kill();
    let path = m.path("late.mp4");
    let started = Instant::now();
    let err = write_expecting_eio(&path, b"bytes that wait for the service");
    println!(
        "outage: close failed after {:.1?}: {err}",
        started.elapsed()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "before --retry-for"
    );
    // EIO, and the file is waiting, not failed: it goes on by itself.
    assert_shows_waiting(&path);
    let log = m.log();
    assert!(
        log.lines().any(|l| l.contains("late.mp4")
            && l.contains("close fails with EIO")
            && l.contains("(--retry-for)")),
        "no log line names the file, the EIO and the limit:\n{log}"
    );
    svc.restart();
    let out = m.ctl(&["wait"], std::slice::from_ref(&path));
    assert!(String::from_utf8_lossy(&out.stdout).contains("late.mp4"));
    assert_committed(&svc, &path, b"bytes that wait for the service");
    assert_eq!(svc.media_count(), 1, "committed once");
}

#[test]
fn outage_client_write_back_waits_until_the_service_is_back_and_wait_says_so() {
    let mut svc = Service::start();
    let m = Mount::with_args(&svc, &["--write-back=0.1"]);
    svc.kill();
    let srcs = sources(5, 1, 13);
    for s in &srcs {
        std::fs::write(m.path(&s.name), &s.bytes).expect("write (write-back: no wait)");
    }
    let paths: Vec<_> = srcs.iter().map(|s| m.path(&s.name)).collect();
    wait_for_state(&m, &paths[0], "waiting", Duration::from_secs(60));
    // `vodfs wait --timeout` says the files wait, and exits 75.
    let out = Command::new(vodfs_bin())
        .args(["wait", "--timeout", "1"])
        .args(&paths)
        .output()
        .expect("vodfs wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("outage: vodfs wait --timeout 1: {:?}\n{stderr}", out.status);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("waiting for the service"), "{stderr}");
    svc.restart();
    wait_all(&m, &paths);
    assert_all_committed_once(&svc, &m.mountpoint, &srcs);
    let log = m.log();
    assert_eq!(lines_with(&log, "service unreachable since"), 1, "{log}");
    assert_eq!(lines_with(&log, "service reachable again"), 1, "{log}");
}

#[test]
fn outage_client_an_offline_mount_stages_and_commits_once_the_service_starts() {
    let mut svc = Service::start();
    svc.kill();
    let m = Mount::with_endpoint(&svc.url, &["--write-back=0.1"], &[]);
    let log = m.log();
    assert!(
        log.contains(&format!("endpoint {} does not answer", svc.url)) && log.contains("refused"),
        "no warning naming the endpoint and the cause:\n{log}"
    );
    let path = m.path("offline.mp4");
    std::fs::write(&path, b"copied while offline").expect("staging works offline");
    assert_eq!(std::fs::read(&path).expect("read"), b"copied while offline");
    wait_for_state(&m, &path, "waiting", Duration::from_secs(60));
    svc.restart();
    m.ctl(&["wait"], std::slice::from_ref(&path));
    assert_committed(&svc, &path, b"copied while offline");
}

#[test]
fn outage_client_the_upload_resumes_from_the_parts_the_service_holds() {
    // v4, one part at a time, each part answered after 300 ms (the
    // service's slow fault) so that it can be killed mid-file however fast
    // the machine is (a per-minute client pace allows a burst); after the
    // restart only the parts it did not acknowledge (at most the one in
    // flight) are sent again.
    let mut svc = Service::start_with(&[
        "--faults",
        "rate=1,seed=1,kinds=slow,slow_ms=300,actions=UploadPart",
    ]);
    let ps: u64 = 1 << 20;
    let parts = 12u64;
    let bytes = random_bytes((parts * ps) as usize, 13_005);
    let m = Mount::with_args(
        &svc,
        &[
            "--protocol",
            "v4",
            "--write-back=0.1",
            "--parallel-parts",
            "1",
        ],
    );
    let path = m.path("resume.mp4");
    std::fs::write(&path, &bytes).expect("write");
    let deadline = Instant::now() + Duration::from_secs(60);
    let done_at_kill = loop {
        let p = getfattr(&path, "user.vod.progress").unwrap_or_default();
        let done: u64 = p
            .split('/')
            .next()
            .and_then(|d| d.trim().parse().ok())
            .unwrap_or(0);
        if done >= 4 {
            break done;
        }
        assert!(Instant::now() < deadline, "progress stuck at {p:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    svc.kill();
    wait_for_state(&m, &path, "waiting", Duration::from_secs(60));
    let shown = getfattr(&path, "user.vod.progress").unwrap_or_default();
    assert!(
        !shown.starts_with("0/"),
        "progress dropped to zero: {shown}"
    );
    svc.restart();
    m.ctl(&["wait"], std::slice::from_ref(&path));
    assert_committed(&svc, &path, &bytes);
    // The restarted service counts only what came after it started.
    let after = part_bytes_received(&svc);
    let missing = (parts - done_at_kill) * ps;
    println!(
        "outage: {done_at_kill} of {parts} parts held at the kill; {after} bytes sent after the restart ({missing} missing)"
    );
    assert!(
        after + 2 * ps >= missing,
        "{after} bytes for {missing} missing"
    );
    assert!(
        after <= missing + ps,
        "re-sent more than the part in flight: {after} > {missing} + {ps}"
    );
}

/// An endpoint client with a stall timeout of `stall`.
fn endpoint(url: &str, stall: Duration) -> vodfs::vod::http::Endpoint {
    let mut cfg = vodfs::vod::http::HttpConfig::new(url);
    cfg.timeouts.stall = stall;
    vodfs::vod::http::Endpoint::new(&cfg).expect("endpoint")
}

#[tokio::test]
async fn outage_client_a_service_that_accepts_and_never_answers_is_abandoned_at_the_stall() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts, never reads, never answers.
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = listener.accept().await {
            conns.push(c);
        }
    });
    let ep = endpoint(&url, Duration::from_secs(2));
    let start = Instant::now();
    let e = ep
        .post("InitUpload", "a=1", bytes::Bytes::new())
        .await
        .unwrap_err();
    let took = start.elapsed();
    println!("outage: blackholed call failed after {took:.1?}: {e}");
    assert_eq!(
        e.to_string(),
        "InitUpload: transport error: stalled: no byte moved for 2 s"
    );
    assert!(e.is_retryable());
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(30),
        "{took:?}"
    );
    held.abort();
}

#[tokio::test]
async fn outage_client_a_slow_link_that_keeps_moving_never_times_out() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    // Reads the body at 64 KiB/s (a 512 KiB part: 8 s, four times the
    // stall timeout), then answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let body_len = 512 * 1024;
    let server = tokio::spawn(async move {
        let (mut c, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 8 * 1024];
        let header_end = loop {
            let n = c.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let mut body = got.len() - header_end;
        while body < body_len {
            tokio::time::sleep(Duration::from_millis(125)).await;
            let n = c.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early");
            body += n;
        }
        let answer = br#"{"code":0,"message":""}"#;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        c.write_all(head.as_bytes()).await.unwrap();
        c.write_all(answer).await.unwrap();
        body
    });
    let ep = endpoint(&url, Duration::from_secs(2));
    let start = Instant::now();
    let r = ep
        .post("UploadPart", "a=1", bytes::Bytes::from(vec![5u8; body_len]))
        .await;
    let took = start.elapsed();
    println!(
        "outage: a 512 KiB part at 64 KiB/s took {took:.1?}: {:?}",
        r.as_ref().err()
    );
    r.expect("a slow link that keeps moving succeeds");
    assert_eq!(server.await.unwrap(), body_len);
    assert!(
        took > Duration::from_secs(2),
        "the link was not slow: {took:?}"
    );
}

#[test]
fn outage_client_a_service_that_refuses_the_credentials_fails_the_mount_at_once() {
    // Offline is no reason to refuse a mount; credentials the service
    // refuses are: nothing would ever upload.
    let svc = Service::start();
    for (flow, key) in [
        ("api3", "wrong-key"),
        ("v4", "wrong-key"),
        ("apply", "wrong-key"),
        ("api3", SECRET_KEY),
        ("v4", SECRET_KEY),
        ("apply", SECRET_KEY),
    ] {
        let mnt = tempfile::tempdir().expect("tempdir");
        let cache = tempfile::tempdir().expect("tempdir");
        let mut child = std::process::Command::new(vodfs_bin())
            .args([
                "mount",
                "--foreground",
                "--protocol",
                flow,
                "--endpoint",
                &svc.url,
            ])
            .arg("--cache")
            .arg(cache.path())
            .arg(mnt.path())
            .env("VODFS_SECRET_ID", SECRET_ID)
            .env("VODFS_SECRET_KEY", key)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("vodfs mount");
        if key == SECRET_KEY {
            // The good key mounts (and is unmounted again).
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !is_mounted(mnt.path()) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the good key did not mount"
                );
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "the good key's mount exited"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = std::process::Command::new("fusermount3")
                .arg("-u")
                .arg(mnt.path())
                .status();
            let _ = child.wait();
            continue;
        }
        let out = child.wait_with_output().expect("mount exits");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "mounted with a refused key");
        assert!(!is_mounted(mnt.path()));
        assert!(
            stderr.contains("refuses the credentials") && stderr.contains("AuthFailure"),
            "{flow}: {stderr}"
        );
        assert!(!stderr.contains(key), "the key in the message: {stderr}");
    }
}
