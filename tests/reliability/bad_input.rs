//! Bad input: awkward names, empty files, writes under by-id, unknown or
//! invalid `user.vod.*` attributes, and secrets
//! kept out of logs, xattrs and `ps`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use super::*;

#[test]
fn bad_input_awkward_names_commit_with_their_bytes() {
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--write-back=0.1"]);
    let long = format!("{}.mp4", "n".repeat(251));
    assert_eq!(long.len(), 255);
    let names: Vec<Vec<u8>> = vec![
        long.into_bytes(),
        br#"a\b:c*d?e"f<g>h|i.mp4"#.to_vec(),
        b"caf\xe9-latin1.mp4".to_vec(),
        "日本語 video.mp4".as_bytes().to_vec(),
    ];
    let mut paths = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let p = m.mountpoint.join(OsStr::from_bytes(n));
        std::fs::write(&p, random_bytes(5000 + i, 40 + i as u64)).expect("write awkward name");
        paths.push(p);
    }
    // 256 bytes is one too many.
    let too_long = m.path(format!("{}.mp4", "n".repeat(252)));
    let e = std::fs::write(&too_long, b"x").expect_err("256-byte name");
    assert_eq!(e.raw_os_error(), Some(libc::ENAMETOOLONG), "{e}");
    wait_all(&m, &paths);
    for (i, p) in paths.iter().enumerate() {
        let bytes = random_bytes(5000 + i, 40 + i as u64);
        assert_committed(&svc, p, &bytes);
    }
    assert_eq!(svc.media_count(), names.len());
    println!(
        "bad input: {} awkward names committed with their bytes; 256-byte name refused with ENAMETOOLONG",
        names.len()
    );
}

#[test]
fn bad_input_by_id_is_read_only_and_vod_attributes_are_checked() {
    let svc = Service::start();
    let m = Mount::new(&svc);
    std::fs::write(m.path("v.mp4"), b"video bytes").expect("write");
    let c = assert_committed(&svc, &m.path("v.mp4"), b"video bytes");
    let by_id = m.path("by-id");
    let e = std::fs::write(by_id.join("new.mp4"), b"x").expect_err("create under by-id");
    assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    let e = std::fs::OpenOptions::new()
        .write(true)
        .open(by_id.join(&c.file_id))
        .expect_err("write a by-id media");
    assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    // Computed attributes cannot be set.
    for (name, value) in [
        ("user.vod.state", "committed"),
        ("user.vod.url", "http://x/"),
        ("user.vod.retry", "1"),
    ] {
        let out = Command::new("setfattr")
            .args(["-n", name, "-v", value])
            .arg(m.path("v.mp4"))
            .output()
            .expect("setfattr");
        assert!(!out.status.success(), "setfattr {name} succeeded");
    }
    assert_eq!(
        getfattr(&m.path("v.mp4"), "user.vod.url"),
        Some(c.url.clone())
    );
    // An unknown user.vod.* name (a typo) is refused with EINVAL and a log
    // line naming the file and the attribute, on a file and a directory;
    // nothing is stored.
    std::fs::create_dir(m.path("d")).expect("mkdir");
    for (target, name) in [("v.mp4", "user.vod.bogus"), ("d", "user.vod.clas_id")] {
        let out = Command::new("setfattr")
            .args(["-n", name, "-v", "7"])
            .arg(m.path(target))
            .output()
            .expect("setfattr");
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("bad input: setfattr {name} on {target}: {}", stderr.trim());
        assert!(!out.status.success(), "setfattr {name} succeeded");
        assert!(stderr.contains("Invalid argument"), "{stderr}");
        assert_eq!(getfattr(&m.path(target), name), None);
        let log = m.log();
        assert!(
            log.lines()
                .any(|l| l.contains(name) && l.contains(&format!("/{target}"))),
            "no log line names {target} and {name}:\n{}",
            tail(&log, 20)
        );
    }
    // Known settings on a directory are still stored.
    run(Command::new("setfattr")
        .args(["-n", "user.vod.class_id", "-v", "7"])
        .arg(m.path("d")));
    // Ordinary user.* attributes are kept, on files and directories.
    for (target, name) in [("v.mp4", "user.note"), ("d", "user.xdg.origin.url")] {
        run(Command::new("setfattr")
            .args(["-n", name, "-v", "hello"])
            .arg(m.path(target)));
        assert_eq!(getfattr(&m.path(target), name).as_deref(), Some("hello"));
    }
}

#[test]
fn bad_input_empty_file_has_an_honest_state() {
    let svc = Service::start();
    let m = Mount::new(&svc);
    std::fs::write(m.path("empty.mp4"), b"").expect("create empty");
    assert_eq!(
        std::fs::metadata(m.path("empty.mp4")).expect("stat").len(),
        0
    );
    let state = getfattr(&m.path("empty.mp4"), "user.vod.state");
    println!("bad input: an empty file's user.vod.state is {state:?}");
    assert_eq!(state.as_deref(), Some("empty"));
    assert_eq!(svc.media_count(), 0, "an empty file is not a media");
    // `vodfs wait` does not hang on it, and says why.
    let out = Command::new(vodfs_bin())
        .args(["wait", "--timeout", "10"])
        .arg(m.path("empty.mp4"))
        .output()
        .expect("vodfs wait");
    assert!(
        !out.status.success(),
        "wait on an empty file must not succeed"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("empty"),
        "{out:?}"
    );
}

#[test]
fn bad_input_secrets_absent_from_logs_xattrs_and_ps() {
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--write-back=0.1", "--list-vod-xattrs"]);
    std::fs::write(m.path("s.mp4"), b"secret test").expect("write");
    wait_all(&m, &[m.path("s.mp4")]);
    let dump = run(Command::new("getfattr")
        .args(["-d", "-m", "-", "--absolute-names"])
        .arg(m.path("s.mp4")));
    let ps = run(Command::new("ps").args(["-eo", "args"]));
    for (what, text) in [
        ("mount log", m.log()),
        ("serve log", svc.log()),
        ("xattrs", dump),
        ("ps", ps),
    ] {
        assert!(
            !text.contains(SECRET_KEY),
            "the SecretKey shows in the {what}"
        );
    }
}

#[test]
fn bad_input_sparse_20_gib_file_needs_no_20_gib_of_disk() {
    let svc = Service::start();
    // A long quiet time: the file is looked at before any commit starts.
    let m = Mount::with_args(&svc, &["--write-back=3600"]);
    let p = m.path("sparse.mp4");
    let t0 = std::time::Instant::now();
    run(Command::new("truncate").args(["-s", "20G"]).arg(&p));
    let truncate_secs = t0.elapsed().as_secs_f64();
    let len = std::fs::metadata(&p).expect("stat").len();
    assert_eq!(len, 20 << 30);
    // The last bytes read back as zeros.
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&p).expect("open");
        f.seek(SeekFrom::End(-4096)).expect("seek");
        let mut buf = vec![1u8; 4096];
        f.read_exact(&mut buf).expect("read the end");
        assert!(
            buf.iter().all(|b| *b == 0),
            "the hole does not read as zeros"
        );
    }
    let du = run(Command::new("du").args(["-sk"]).arg(&m.cache));
    let kib: u64 = du
        .split_whitespace()
        .next()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    println!(
        "bad input: a 20 GiB sparse file takes {kib} KiB of cache; truncate -s 20G took {truncate_secs:.1} s"
    );
    assert!(
        kib < 64 * 1024,
        "the cache holds {kib} KiB for a sparse file"
    );
    // Removing it before the commit leaves nothing at the service.
    std::fs::remove_file(&p).expect("unlink");
    assert_eq!(svc.media_count(), 0);
}

#[test]
fn bad_input_failed_upload_is_retried_by_vodfs_retry_and_setfattr() {
    let svc = Service::start();
    // v4: the faults are injected on its InitUpload.
    let m = Mount::with_args(&svc, &["--write-back=0.1", "--protocol", "v4"]);
    // Every InitUpload fails: the retries run out and the files fail.
    let put = |spec: &str| {
        let r = reqwest::blocking::Client::new()
            .put(format!("{}/admin/faults", svc.url))
            .header("X-Vodfs-Admin", "1")
            .body(spec.to_string())
            .send()
            .expect("admin faults");
        assert!(r.status().is_success());
    };
    put("rate=1.0,seed=1,kinds=5xx,actions=InitUpload");
    let a = random_bytes(30_000, 51);
    let b = random_bytes(40_000, 52);
    std::fs::write(m.path("a.mp4"), &a).expect("write a");
    std::fs::write(m.path("b.mp4"), &b).expect("write b");
    // A 5xx is transient: the files wait (retried by themselves), they do
    // not fail; `vodfs wait --timeout` says so and exits 75.
    let out = Command::new(vodfs_bin())
        .args(["wait", "--timeout", "3"])
        .arg(m.path("a.mp4"))
        .arg(m.path("b.mp4"))
        .output()
        .expect("wait");
    assert_eq!(out.status.code(), Some(75), "wait must report the timeout");
    for f in ["a.mp4", "b.mp4"] {
        assert_eq!(
            getfattr(&m.path(f), "user.vod.state").as_deref(),
            Some("waiting")
        );
        assert!(getfattr(&m.path(f), "user.vod.error").is_some());
    }
    let status = run(Command::new(vodfs_bin()).arg("status").arg(&m.mountpoint));
    assert!(status.contains("2 files waiting"), "{status}");
    put("off");
    // One by setfattr, one by `vodfs retry`. A file's own next attempt
    // (its backoff is a few seconds by now) may start in the moment between
    // the faults going off and the command: then it is on its way
    // (uploading, committing, or committed already), nothing is left to
    // retry, and the command's EINVAL is the right answer.
    let retried = |cmd: &mut Command, f: &str| {
        let out = cmd.output().expect("retry command");
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            let state = getfattr(&m.path(f), "user.vod.state");
            assert!(
                matches!(
                    state.as_deref(),
                    Some("hashing" | "uploading" | "committing" | "committed")
                ),
                "{cmd:?} failed and {f} is {state:?}, not on its way: {err}"
            );
        }
    };
    retried(
        Command::new("setfattr")
            .args(["-n", "user.vod.retry", "-v", "1"])
            .arg(m.path("a.mp4")),
        "a.mp4",
    );
    retried(
        Command::new(vodfs_bin()).arg("retry").arg(m.path("b.mp4")),
        "b.mp4",
    );
    wait_all(&m, &[m.path("a.mp4"), m.path("b.mp4")]);
    assert_committed(&svc, &m.path("a.mp4"), &a);
    assert_committed(&svc, &m.path("b.mp4"), &b);
    assert_eq!(svc.media_count(), 2);
    // Nothing left to retry: a committed file answers EINVAL.
    let out = Command::new("setfattr")
        .args(["-n", "user.vod.retry", "-v", "1"])
        .arg(m.path("a.mp4"))
        .output()
        .expect("setfattr");
    assert!(!out.status.success());
    println!(
        "bad input: 2 uploads waiting (InitUpload 503) committed at once after setfattr user.vod.retry / vodfs retry"
    );
}

/// The mount is private to its user: another user cannot even stat it,
/// unless it was mounted with `-o allow_other` (then the modes decide:
/// `default_permissions`). Needs root, to act as `nobody`.
#[test]
fn bad_input_mount_is_private_unless_allow_other() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to act as another user");
        return;
    }
    let svc = Service::start();
    let as_nobody = |m: &Mount, args: &[&str]| {
        // The temp directory above the mount point is private: open it.
        let parent = m.mountpoint.parent().expect("parent");
        std::fs::set_permissions(parent, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(args)
            .output()
            .expect("setpriv")
    };
    for (opts, shared) in [(&[][..], false), (&["-o", "allow_other"][..], true)] {
        let m = Mount::with_args(&svc, opts);
        std::fs::write(m.path("v.mp4"), b"private video").expect("write");
        std::fs::set_permissions(
            m.path("v.mp4"),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .expect("chmod");
        let p = m.path("v.mp4");
        let out = as_nobody(&m, &["cat", p.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!(
            "mount {opts:?}: cat as nobody: {:?} {}",
            out.status.code(),
            stderr.trim()
        );
        if shared {
            assert!(out.status.success(), "{stderr}");
            assert_eq!(out.stdout, b"private video");
            // The modes still decide: nobody may not write a 0644 file.
            let w = as_nobody(&m, &["sh", "-c", &format!("echo x >> '{}'", p.display())]);
            assert!(!w.status.success(), "nobody wrote a 0644 file of root");
        } else {
            assert!(!out.status.success(), "another user read a private mount");
            assert!(stderr.contains("Permission denied"), "{stderr}");
        }
    }
}
