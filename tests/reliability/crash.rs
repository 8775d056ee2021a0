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
        let before = media(&svc).len();
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
    for r in media(&svc) {
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
