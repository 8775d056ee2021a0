//! Versions, by-id, errors and persistence through a real mount.

use std::io::Write;
use std::process::Command;

use crate::common::*;

#[test]
fn rewrite_makes_a_new_version_and_old_by_id_stays() {
    let svc = Service::start();
    // v4: writing old content again is an instant upload (API 3.0 has none).
    let m = Mount::with_args(&svc, &["--protocol", "v4"]);
    let v1 = random_bytes(700_000, 10);
    let v2 = random_bytes(900_000, 11);
    std::fs::write(m.path("f.mp4"), &v1).expect("write v1");
    let c1 = assert_committed(&svc, &m.path("f.mp4"), &v1);
    std::fs::write(m.path("f.mp4"), &v2).expect("write v2 (O_TRUNC)");
    let c2 = assert_committed(&svc, &m.path("f.mp4"), &v2);
    assert_ne!(c1.file_id, c2.file_id);
    assert_eq!(
        std::fs::read(m.path("by-id").join(&c1.file_id)).expect("old by-id"),
        v1
    );
    // Writing v1 again costs nothing: instant upload gives back the old media.
    std::fs::write(m.path("g.mp4"), &v1).expect("write copy");
    let c3 = assert_committed(&svc, &m.path("g.mp4"), &v1);
    assert_eq!(c3.file_id, c1.file_id);
    assert_eq!(svc.media_count(), 2);
}

#[test]
fn by_id_is_read_only_and_takes_no_links() {
    let svc = Service::start();
    let m = Mount::new(&svc);
    std::fs::write(m.path("a.mp4"), b"hello").expect("write");
    let c = assert_committed(&svc, &m.path("a.mp4"), b"hello");
    let entry = m.path("by-id").join(&c.file_id);
    let e = std::fs::OpenOptions::new()
        .write(true)
        .open(&entry)
        .expect_err("write under by-id");
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    let e = std::fs::remove_file(&entry).expect_err("unlink under by-id");
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    let e = std::fs::write(m.path("by-id/new.mp4"), b"x").expect_err("create under by-id");
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    let e = std::fs::remove_dir(m.path("by-id")).expect_err("rmdir by-id");
    assert!(
        matches!(
            e.raw_os_error(),
            Some(libc::EROFS) | Some(libc::EPERM) | Some(libc::EBUSY) | Some(libc::ENOTEMPTY)
        ),
        "{e}"
    );

    let e = std::os::unix::fs::symlink("../a.mp4", m.path("by-id/link")).expect_err("symlink");
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    let e = std::fs::hard_link(m.path("a.mp4"), m.path("by-id/hard")).expect_err("link");
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));

    // Unlinking a committed file removes the name only.
    std::fs::remove_file(m.path("a.mp4")).expect("unlink");
    assert_eq!(std::fs::read(&entry).expect("by-id after unlink"), b"hello");
    assert_eq!(fetch(&c.url), b"hello");
}

const COMPUTED: [&str; 5] = [
    "user.vod.state",
    "user.vod.url",
    "user.vod.file_id",
    "user.vod.sha1",
    "user.vod.name",
];

/// A by-id media with its bytes in the cache is read by the kernel from
/// the data file (FUSE passthrough where the kernel offers it): byte-exact
/// at every offset around the 1 MiB part boundaries, with two handles open
/// at once, after the file under its name was rewritten (the old media
/// keeps its bytes), and its name in the tree still goes through the mount.
#[test]
fn by_id_reads_are_exact_through_passthrough_across_parts_and_rewrites() {
    use std::os::unix::fs::FileExt;
    let svc = Service::start();
    let m = Mount::new(&svc);
    let first = random_bytes(3 * (1 << 20) + 5, 71);
    std::fs::write(m.path("a.mp4"), &first).expect("write");
    let c1 = assert_committed(&svc, &m.path("a.mp4"), &first);
    let second = random_bytes(1 << 20, 72);
    std::fs::write(m.path("a.mp4"), &second).expect("rewrite");
    assert_committed(&svc, &m.path("a.mp4"), &second);
    let entry = m.path("by-id").join(&c1.file_id);
    let a = std::fs::File::open(&entry).expect("open by-id");
    let b = std::fs::File::open(&entry).expect("second open by-id");
    let mib = 1usize << 20;
    for (off, len) in [
        (0, 4096),
        (mib - 3, 7),
        (mib, mib),
        (2 * mib - 1, mib + 2),
        (3 * mib, 5),
        (3 * mib + 3, 100),
    ] {
        for f in [&a, &b] {
            let mut buf = vec![0u8; len];
            let n = f.read_at(&mut buf, off as u64).expect("pread");
            let end = (off + len).min(first.len());
            assert_eq!(&buf[..n], &first[off..end], "at {off} (+{len})");
        }
    }
    drop((a, b));
    assert!(std::fs::read(&entry).expect("read by-id") == first);
    assert!(std::fs::read(m.path("a.mp4")).expect("read the name") == second);
    let log = m.log();
    if log.contains("FUSE passthrough: by-id reads go to the cached data files") {
        assert!(
            log.contains("open passed through to the cached data file"),
            "the kernel offers passthrough but by-id opens were not passed through"
        );
    }
}

/// `--passthrough-reads`: a committed file read by the kernel from its
/// data file is byte-exact around the part boundaries; while that reader
/// is open, a write open and a truncate wait for it and then fail with
/// ETXTBSY, logged with the file's name; a write right after a reader's
/// close (`cat f; cp g f`, its RELEASE still on its way) waits for the
/// release and goes ahead, and every rewrite commits.
#[test]
fn passthrough_reads_are_exact_and_hold_the_content_while_open() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::FileExt;
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--passthrough-reads"]);
    let offered = m
        .log()
        .contains("FUSE passthrough: by-id reads go to the cached data files");
    if !offered && !kernel_at_least(6, 9) {
        eprintln!("skipped: this kernel has no FUSE passthrough (Linux 6.9 and later)");
        return;
    }
    assert!(offered, "a kernel of 6.9 or later offers FUSE passthrough");
    let path = m.path("a.mp4");
    let first = random_bytes(3 * (1 << 20) + 5, 81);
    std::fs::write(&path, &first).expect("write");
    assert_committed(&svc, &path, &first);
    let r = std::fs::File::open(&path).expect("open for reading");
    let mib = 1usize << 20;
    for (off, len) in [
        (0, 4096),
        (mib - 3, 7),
        (2 * mib - 1, mib + 2),
        (3 * mib + 3, 100),
    ] {
        let mut buf = vec![0u8; len];
        let n = r.read_at(&mut buf, off as u64).expect("pread");
        let end = (off + len).min(first.len());
        assert_eq!(&buf[..n], &first[off..end], "at {off} (+{len})");
    }
    let t = std::time::Instant::now();
    let e = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect_err("a write open while a passed-through reader is open");
    assert_eq!(e.raw_os_error(), Some(libc::ETXTBSY), "{e}");
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(1500),
        "refused after waiting for the readers, not at once ({:?})",
        t.elapsed()
    );
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::truncate(c.as_ptr(), 5) }, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ETXTBSY)
    );
    assert!(
        m.log()
            .contains("/a.mp4 is open for reading through FUSE passthrough"),
        "the refusal is logged with the file's name"
    );
    drop(r);
    assert!(
        m.log()
            .contains("open passed through to the cached data file")
    );
    let mut expect = first;
    for i in 0..5u8 {
        assert!(std::fs::read(&path).expect("read") == expect, "round {i}");
        expect = vec![i + 1; 1000];
        std::fs::write(&path, &expect).expect("a write right after a reader's close");
        assert_committed(&svc, &path, &expect);
    }
}

#[test]
fn computed_xattrs_are_read_by_name_and_listed_only_when_asked() {
    let svc = Service::start();
    let m = Mount::new(&svc);
    std::fs::write(m.path("x.mp4"), b"data").expect("write");
    run(Command::new("setfattr")
        .args(["-n", "user.comment", "-v", "holiday 2026"])
        .arg(m.path("x.mp4")));
    let dump = run(Command::new("getfattr")
        .args(["-d", "-m", "-", "--absolute-names"])
        .arg(m.path("x.mp4")));
    assert!(dump.contains("user.comment"), "{dump}");
    assert!(
        !dump.contains("user.vod."),
        "computed names listed:\n{dump}"
    );
    for name in COMPUTED {
        assert!(getfattr(&m.path("x.mp4"), name).is_some(), "{name} by name");
    }
    drop(m);

    let m = Mount::with_args(&svc, &["--list-vod-xattrs"]);
    std::fs::write(m.path("x.mp4"), b"data").expect("write");
    run(Command::new("setfattr")
        .args(["-n", "user.comment", "-v", "holiday 2026"])
        .arg(m.path("x.mp4")));
    let dump = run(Command::new("getfattr")
        .args(["-d", "-m", "-", "--absolute-names"])
        .arg(m.path("x.mp4")));
    for name in COMPUTED.into_iter().chain(["user.comment"]) {
        assert!(dump.contains(name), "{name} missing from:\n{dump}");
    }
    assert_eq!(
        getfattr(&m.path("x.mp4"), "user.comment").as_deref(),
        Some("holiday 2026")
    );
    assert_eq!(getfattr(&m.path("x.mp4"), "security.capability"), None);
    assert!(!dump.contains(SECRET_KEY));
}

#[test]
fn everything_survives_a_remount() {
    let svc = Service::start();
    let mut m = Mount::new(&svc);
    std::fs::create_dir(m.path("dir")).expect("mkdir");
    std::fs::write(m.path("dir/v.mp4"), b"video").expect("write");
    let c = assert_committed(&svc, &m.path("dir/v.mp4"), b"video");
    m.unmount();
    m.start();
    let c2 = assert_committed(&svc, &m.path("dir/v.mp4"), b"video");
    assert_eq!(c.file_id, c2.file_id);
    assert!(m.path("by-id").join(&c.file_id).exists());
}

#[test]
fn write_back_close_returns_and_wait_reports() {
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--write-back=0.2"]);
    let data = random_bytes(1_200_000, 12);
    {
        let mut f = std::fs::File::create(m.path("wb.mp4")).expect("create");
        f.write_all(&data).expect("write");
    }
    let out = run(Command::new(vodfs_bin()).arg("wait").arg(m.path("wb.mp4")));
    let fields: Vec<&str> = out.trim_end().split('\t').collect();
    assert_eq!(fields.len(), 3, "wait printed {out:?}");
    assert_eq!(fields[0], m.path("wb.mp4").display().to_string());
    let c = assert_committed(&svc, &m.path("wb.mp4"), &data);
    assert_eq!(fields[1], c.file_id);
    assert_eq!(fields[2], c.url);
}

#[test]
fn wrong_credentials_fail_close_with_eio_and_say_why() {
    let svc = Service::start();
    // ugc-ex (signing locally with the key given): its credentials are
    // checked by the first upload (v4's, apply's and API 3.0's by the
    // mount itself: outage_client_a_service_that_refuses_the_credentials…).
    let m = Mount::with_args(&svc, &["--protocol", "ugc-ex", "--secret-key", "wrong-key"]);
    let err = write_expecting_failed_close(&m.path("bad.mp4"), b"some bytes");
    assert!(
        err.contains("AuthFailure") || err.contains("-10002") || err.contains("4100"),
        "{err}"
    );
    assert!(!err.contains("wrong-key"));
    // What the user wrote is still there.
    assert_eq!(
        std::fs::read(m.path("bad.mp4")).expect("read"),
        b"some bytes"
    );
    assert!(m.log().contains("bad.mp4"), "no log line names the file");
    assert!(!m.log().contains("wrong-key"), "the secret reached the log");
}

#[test]
fn status_reports_counts_failures_and_json() {
    let svc = Service::start();
    let good = Mount::new(&svc);
    std::fs::write(good.path("ok.mp4"), b"fine").expect("write");
    let c = assert_committed(&svc, &good.path("ok.mp4"), b"fine");
    let out = run(Command::new(vodfs_bin())
        .args(["status", "--all"])
        .arg(&good.mountpoint));
    assert!(
        out.contains("1 committed, 0 in progress, 0 failed"),
        "{out}"
    );
    assert!(out.contains(&c.file_id), "{out}");

    // ugc-ex: credentials checked by the first upload, not at mount time.
    let bad = Mount::with_args(&svc, &["--protocol", "ugc-ex", "--secret-key", "wrong-key"]);
    let _ = std::fs::write(bad.path("no.mp4"), b"x");
    let out = run(Command::new(vodfs_bin())
        .args(["status", "--json"])
        .arg(&bad.mountpoint));
    let doc: serde_json::Value = serde_json::from_str(&out).expect("status --json is JSON");
    assert_eq!(doc[0]["summary"]["failed"], 1, "{doc}");
    let f = &doc[0]["files"][0];
    assert_eq!(f["state"], "failed");
    assert!(f["path"].as_str().unwrap_or("").ends_with("no.mp4"));
    assert!(f["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(!out.contains("wrong-key"));
}

/// A child's exec closes the descriptors it inherited (close-on-exec), so
/// the mount gets a FLUSH from a process in the middle of execve. Looking at
/// that process through /proc must not wait for the exec (which waits for
/// the FLUSH): this hung before the fix.
#[test]
fn exec_while_a_file_is_open_does_not_hang_or_commit_early() {
    let svc = Service::start();
    let m = Mount::new(&svc);
    let mut f = std::fs::File::create(m.path("open.mp4")).expect("create");
    f.write_all(b"abc").expect("write");
    for _ in 0..5 {
        run(&mut Command::new("true"));
    }
    f.write_all(b"def").expect("write more");
    drop(f);
    assert_committed(&svc, &m.path("open.mp4"), b"abcdef");
    assert_eq!(
        svc.media_count(),
        1,
        "the children's closes were not the last"
    );
}

/// `vodfs wait` of many files, the first of which commits last: it looks
/// at the first file still on its way between its full rounds, and still
/// reports every file once settled (each committed one with its fileId and
/// URL, in the order given) and names the one that cannot commit.
#[test]
fn wait_for_many_files_reports_each_once_settled_whatever_their_order() {
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--write-back=0.5"]);
    let names: Vec<String> = (0..30).map(|i| format!("w{i:02}.mp4")).collect();
    let datas: Vec<Vec<u8>> = (0..30)
        .map(|i| random_bytes(5000 + i * 97, 700 + i as u64))
        .collect();
    for (n, d) in names.iter().zip(&datas).skip(1) {
        std::fs::write(m.path(n), d).expect("write");
    }
    std::fs::File::create(m.path("empty.mp4")).expect("an empty file");
    // The first in the list is still open while the others commit: it
    // commits after them.
    let mut f = std::fs::File::create(m.path(&names[0])).expect("create the first");
    f.write_all(&datas[0]).expect("write the first");
    let first = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        drop(f);
    });
    let out = Command::new(vodfs_bin())
        .arg("wait")
        .args(names.iter().map(|n| m.path(n)))
        .arg(m.path("empty.mp4"))
        .output()
        .expect("vodfs wait");
    first.join().expect("writer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the empty file fails the wait");
    assert!(
        stderr.contains("empty.mp4: failed"),
        "the empty file is named: {stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), names.len(), "{stdout}");
    for ((line, n), d) in lines.iter().zip(&names).zip(&datas) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields[0], m.path(n).display().to_string());
        let c = assert_committed(&svc, &m.path(n), d);
        assert_eq!(
            (fields[1], fields[2]),
            (c.file_id.as_str(), c.url.as_str()),
            "{n}"
        );
    }
}

/// Whether the running kernel's release is `major.minor` or later.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let have = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    have >= (major, minor)
}
