//! Crash: the mount is killed with SIGKILL at seeded random moments while
//! files upload, remounted on the same cache, and waited on. Every source
//! must end committed exactly once with its bytes; the bytes sent again
//! after the crashes are reported.

use std::time::{Duration, Instant};

use super::*;

/// A small deterministic generator for the kill moments.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn crash_kill9_during_write_back_uploads_then_resume() {
    let svc = Service::start();
    let args = [
        "--write-back=0.1",
        "--part-size=524288",
        "--parallel-parts=2",
    ];
    let mut m = Mount::with_args(&svc, &args);
    let srcs = sources(20, 6, 21);
    let total: u64 = srcs.iter().map(|s| s.bytes.len() as u64).sum();
    for s in &srcs {
        std::fs::write(m.path(&s.name), &s.bytes).expect("write");
    }
    // Every close has returned: the files are in the cache. Now crash the
    // mount at random moments of the uploads, three times.
    let mut x = 0x5eed_2026_u64;
    let mut kills = Vec::new();
    for _ in 0..3 {
        let ms = next(&mut x) % 400;
        std::thread::sleep(Duration::from_millis(ms));
        let before = svc.media().len();
        m.kill9();
        kills.push((ms, before));
        m.start();
    }
    let paths: Vec<_> = srcs.iter().map(|s| m.path(&s.name)).collect();
    let t0 = Instant::now();
    wait_all(&m, &paths);
    let n = assert_all_committed_once(&svc, &m.mountpoint, &srcs);
    let sent = part_bytes_received(&svc);
    println!(
        "crash (write-back): {n} files, {total} bytes; kill -9 after {kills:?} (ms, media committed \
         then); all committed once {:.1} s after the last restart; part bytes received {sent} = \
         {:.2}× the source ({} bytes re-sent)",
        t0.elapsed().as_secs_f64(),
        sent as f64 / total as f64,
        sent.saturating_sub(total)
    );
}

#[test]
fn crash_kill9_during_sync_copies_loses_nothing_that_was_closed() {
    let svc = Service::start();
    let mut m = Mount::with_args(&svc, &["--part-size=524288", "--parallel-parts=2"]);
    let srcs = sources(6, 4, 22);
    let srcdir = tempfile::tempdir().expect("tempdir");
    for s in &srcs {
        std::fs::write(srcdir.path().join(&s.name), &s.bytes).expect("local");
    }
    // One `cp` per file, in parallel; a close returns once committed.
    let mut children: Vec<_> = srcs
        .iter()
        .map(|s| {
            Command::new("cp")
                .arg(srcdir.path().join(&s.name))
                .arg(m.path(&s.name))
                .spawn()
                .expect("cp")
        })
        .collect();
    let mut x = 0xc0ffee_u64;
    std::thread::sleep(Duration::from_millis(50 + next(&mut x) % 300));
    m.kill9();
    let ok: Vec<bool> = children
        .iter_mut()
        .map(|c| c.wait().map(|s| s.success()).unwrap_or(false))
        .collect();
    // No media at the service is anything but a whole source.
    let shas: Vec<String> = srcs.iter().map(|s| sha1_hex(&s.bytes)).collect();
    for r in svc.media() {
        let sha = r["sha1"].as_str().unwrap_or_default();
        assert!(
            shas.iter().any(|s| s == sha),
            "committed media is no source: {r}"
        );
    }
    m.start();
    // Closes that returned success were committed; the others are copied
    // again (what the user does after a crash).
    let done = ok.iter().filter(|o| **o).count();
    // A file whose close had sealed it (its progress has a total) resumes
    // by itself; one never closed is copied again (what the user does).
    let mut again = 0;
    for (s, ok) in srcs.iter().zip(&ok) {
        let sealed = getfattr(&m.path(&s.name), "user.vod.progress")
            .is_some_and(|p| !p.ends_with("/0 bytes"));
        if !ok && !sealed {
            std::fs::write(m.path(&s.name), &s.bytes).expect("copy again");
            again += 1;
        }
    }
    let paths: Vec<_> = srcs.iter().map(|s| m.path(&s.name)).collect();
    wait_all(&m, &paths);
    let n = assert_all_committed_once(&svc, &m.mountpoint, &srcs);
    let total: u64 = srcs.iter().map(|s| s.bytes.len() as u64).sum();
    let sent = part_bytes_received(&svc);
    println!(
        "crash (sync): kill -9 during {} parallel cp; {done} had returned success; after remount \
         and copying {again} never-closed ones again, {n} committed once each; part bytes received {sent} = {:.2}× \
         the source",
        srcs.len(),
        sent as f64 / total as f64
    );
}

/// A file whose writer was killed with the mount: `cp` from a FIFO (so
/// the test decides how far it gets) into the mount, kill -9 of the mount
/// mid-copy, remount. The file is `interrupted`, never committed silently:
/// `user.vod.error` says why and how to go on, `vodfs wait` fails at once
/// naming it, `vodfs status` lists it; `vodfs retry` commits it as it is
/// (the bytes the writer got in), and copying it again commits the whole.
#[test]
fn crash_kill9_mid_cp_leaves_an_interrupted_file_not_a_commit() {
    let svc = Service::start();
    let mut m = Mount::with_args(&svc, &["--part-size=524288"]);
    let src = random_bytes(12 << 20, 4242);
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = m.path("big.mp4");
    let (mut cp, mut w) = cp_from_fifo(dir.path(), &dest, std::process::Stdio::piped());
    let head = 5 << 20;
    std::io::Write::write_all(&mut w, &src[..head]).expect("feed cp");
    // Poll until cp has written what it was fed (the mount's live size).
    let t0 = Instant::now();
    while std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0) < head as u64 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "cp made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    m.kill9();
    drop(w);
    let cp_ok = cp.wait().expect("cp").success();
    assert!(!cp_ok, "cp succeeded although the mount was killed");
    assert_eq!(svc.media_count(), 0);
    m.start();

    let state = getfattr(&dest, "user.vod.state");
    let error = getfattr(&dest, "user.vod.error").unwrap_or_default();
    println!("crash mid-cp: after remount state {state:?}, error {error:?}");
    assert_eq!(state.as_deref(), Some("interrupted"));
    assert!(
        error.contains("did not finish") && error.contains("vodfs retry"),
        "{error}"
    );
    assert!(
        m.log().contains("big.mp4") && m.log().contains("did not finish"),
        "no log line names the file:\n{}",
        tail(&m.log(), 20)
    );
    // What the cache holds is a prefix of the source: the bytes cp got in.
    let held = std::fs::read(&dest).expect("read the interrupted file");
    assert!(
        !held.is_empty() && held.len() <= head && held[..] == src[..held.len()],
        "interrupted file holds {} bytes, not a prefix of the source",
        held.len()
    );
    // `vodfs wait` returns non-zero at once, naming the file and why.
    let t0 = Instant::now();
    let out = Command::new(vodfs_bin())
        .args(["wait", "--timeout", "60"])
        .arg(&dest)
        .output()
        .expect("vodfs wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "vodfs wait succeeded");
    assert!(
        stderr.contains("big.mp4") && stderr.contains("did not finish"),
        "{stderr}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "vodfs wait did not return promptly"
    );
    let status = Command::new(vodfs_bin())
        .arg("status")
        .arg(&m.mountpoint)
        .output()
        .expect("vodfs status");
    let status = String::from_utf8_lossy(&status.stdout);
    println!("{status}");
    assert!(
        status.contains("1 interrupted")
            && status
                .lines()
                .any(|l| l.trim_start().starts_with("interrupted") && l.contains("big.mp4")),
        "{status}"
    );
    // Still interrupted after another remount (found again from the cache).
    m.unmount();
    m.start();
    assert_eq!(
        getfattr(&dest, "user.vod.state").as_deref(),
        Some("interrupted")
    );
    // `vodfs retry` commits it as it is.
    m.ctl(&["retry", "--timeout", "120"], std::slice::from_ref(&dest));
    assert_committed(&svc, &dest, &held);
    // Copying it again commits the whole source.
    std::fs::write(&dest, &src).expect("copy again");
    assert_committed(&svc, &dest, &src);
    println!(
        "crash mid-cp: {} of {} bytes were in when the mount was killed; retry committed them as they were, a new copy the whole",
        held.len(),
        src.len()
    );
}

/// Writes `bytes` to an open file in 1 MiB writes.
fn write_in_mib(f: &mut std::fs::File, bytes: &[u8]) {
    for c in bytes.chunks(1 << 20) {
        std::io::Write::write_all(f, c).expect("write");
    }
}

/// Waits (generously) until the service holds parts of an open upload.
fn wait_for_early_parts(svc: &Service, at_least: u64) {
    let t0 = Instant::now();
    while !svc.open_multipart().iter().any(|(_, n)| *n >= at_least) {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no parts sent while writing: {:?}",
            svc.open_multipart()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Parts sent while writing (api3), then kill -9 of the mount mid-write:
/// the remount shows the file interrupted; `vodfs retry` commits what
/// reached the cache once, byte-exact, resuming the parts already sent,
/// and no multipart upload is left open. A second such file, removed
/// after the remount, leaves no media and no open upload either.
#[test]
fn crash_kill9_while_parts_are_sent_during_the_write_then_retry_and_rm() {
    let svc = Service::start();
    let mut m = Mount::new(&svc);
    let data = random_bytes(16 << 20, 4343);
    let dest = m.path("early.mp4");
    let other = m.path("other.mp4");
    let mut f = std::fs::File::create(&dest).expect("create");
    write_in_mib(&mut f, &data);
    let mut g = std::fs::File::create(&other).expect("create");
    write_in_mib(&mut g, &data[..8 << 20]);
    wait_for_early_parts(&svc, 4);
    let t0 = Instant::now();
    while svc.open_multipart().len() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "second upload never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let held_before = svc.open_multipart();
    m.kill9();
    drop(f);
    drop(g);
    assert_eq!(svc.media_count(), 0);
    m.start();
    assert_eq!(
        getfattr(&dest, "user.vod.state").as_deref(),
        Some("interrupted")
    );
    let held = std::fs::read(&dest).expect("read the interrupted file");
    assert!(
        !held.is_empty() && held[..] == data[..held.len()],
        "the interrupted file holds {} bytes, not a prefix of what was written",
        held.len()
    );
    // rm of the other interrupted file aborts its upload.
    std::fs::remove_file(&other).expect("rm");
    m.ctl(&["retry", "--timeout", "120"], std::slice::from_ref(&dest));
    let c = assert_committed(&svc, &dest, &held);
    assert_eq!(c.record["flow"].as_str(), Some("api3"));
    assert_eq!(svc.media_count(), 1, "committed once");
    let t0 = Instant::now();
    while !svc.open_multipart().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "multipart uploads left open: {:?}",
            svc.open_multipart()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        m.log()
            .contains("resuming the parts sent while it was written"),
        "the retry did not resume the early parts:\n{}",
        tail(&m.log(), 30)
    );
    println!(
        "crash while sending early: {held_before:?} held at the kill; {} bytes committed",
        held.len()
    );
}

/// A write-back close persists the file as closed and returns; its seal
/// and commit wait for the RELEASE, which does not come while another
/// process (here a child that inherited the descriptor) holds it. A mount
/// killed in between commits the file at its next start, once, with its
/// bytes.
#[test]
fn crash_kill9_between_a_write_back_close_and_its_release_commits_at_the_next_start() {
    use std::io::Write as _;
    use std::os::fd::AsRawFd as _;
    let svc = Service::start();
    let mut m = Mount::with_args(&svc, &["--write-back=0"]);
    let srcs = sources(1, 1, 23);
    let paths: Vec<_> = srcs.iter().map(|s| m.path(&s.name)).collect();
    let mut holders = Vec::new();
    for (s, path) in srcs.iter().zip(&paths) {
        let mut f = std::fs::File::create(path).expect("create");
        f.write_all(&s.bytes).expect("write");
        // SAFETY: clears FD_CLOEXEC on a descriptor this test owns, so the
        // child below inherits it.
        assert_eq!(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFD, 0) }, 0);
        holders.push(Command::new("sleep").arg("120").spawn().expect("sleep"));
        // The FLUSH of this close; no RELEASE while the child holds a copy.
        drop(f);
    }
    std::thread::sleep(Duration::from_millis(800));
    for path in &paths {
        assert_eq!(
            getfattr(path, "user.vod.state").as_deref(),
            Some("staged"),
            "{path:?}: closed, not yet released"
        );
    }
    assert!(
        svc.media().is_empty(),
        "nothing is committed before a release"
    );
    m.kill9();
    for mut h in holders {
        let _ = h.kill();
        let _ = h.wait();
    }
    m.start();
    wait_all(&m, &paths);
    assert_eq!(assert_all_committed_once(&svc, &m.mountpoint, &srcs), 2);
}
