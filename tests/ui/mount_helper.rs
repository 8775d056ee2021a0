//! `scripts/mount.fuse.vodfs`, the mount(8) helper: run directly as mount(8)
//! runs it, and (as root, when it can be installed and removed safely)
//! through `mount -t fuse.vodfs` itself.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

fn helper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mount.fuse.vodfs")
}

/// Pids of processes whose command line mentions `needle`.
fn pids_mentioning(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

/// Unmounts `mnt` and waits for the daemon serving it to exit.
fn unmount_and_reap(mnt: &Path) {
    if is_mounted(mnt) {
        run(Command::new("fusermount3").arg("-u").arg(mnt));
    }
    let needle = mnt.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pids_mentioning(&needle).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the vodfs daemon of {needle} did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Copies a file in and checks it is committed through `mnt`.
fn copy_and_check(svc: &Service, mnt: &Path, name: &str, seed: u64) {
    let data = random_bytes(300_000, seed);
    std::fs::write(mnt.join(name), &data).expect("write into the mount");
    assert_committed(svc, &mnt.join(name), &data);
}

#[test]
fn helper_translates_mount_8_arguments() {
    let svc = Service::start();
    let dirs = MountDirs::new();
    let (mnt, cache) = (dirs.mountpoint.clone(), dirs.cache.clone());
    // As mount(8) calls it: SOURCE MOUNTPOINT -o OPTIONS, plus -n (no mtab).
    let out = run(Command::new(helper())
        .arg("none")
        .arg(&mnt)
        .arg("-o")
        .arg(format!(
            "rw,endpoint={},cache={},parallel_files=2,_netdev,x-systemd.automount",
            svc.url,
            cache.display()
        ))
        .arg("-n")
        .env("VODFS_BIN", vodfs_bin())
        .env("VODFS_SECRET_ID", SECRET_ID)
        .env("VODFS_SECRET_KEY", SECRET_KEY));
    assert!(
        is_mounted(&mnt),
        "the helper returned but nothing is mounted: {out}"
    );
    copy_and_check(&svc, &mnt, "a.mp4", 1);
    unmount_and_reap(&mnt);

    // The service URL as SOURCE stands for endpoint=; log_file= is --log-file.
    let log = dirs.root().join("helper.log");
    run(Command::new(helper())
        .arg(&svc.url)
        .arg(&mnt)
        .arg(format!(
            "-ocache={},log_file={}",
            cache.display(),
            log.display()
        ))
        .env("VODFS_BIN", vodfs_bin())
        .env("VODFS_SECRET_ID", SECRET_ID)
        .env("VODFS_SECRET_KEY", SECRET_KEY));
    assert!(is_mounted(&mnt));
    copy_and_check(&svc, &mnt, "b.mp4", 2);
    unmount_and_reap(&mnt);
    let text = std::fs::read_to_string(&log).expect("log_file= was written");
    assert!(text.contains("b.mp4"), "no line names b.mp4 in:\n{text}");

    // A bad option fails the mount, saying which.
    let out = Command::new(helper())
        .arg("none")
        .arg(&mnt)
        .args(["-o", "bogus=1"])
        .env("VODFS_BIN", vodfs_bin())
        .output()
        .expect("run helper");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
    assert!(!is_mounted(&mnt));
    // Fake (-f): nothing is mounted.
    run(Command::new(helper())
        .arg("none")
        .arg(&mnt)
        .arg("-f")
        .env("VODFS_BIN", vodfs_bin()));
    assert!(!is_mounted(&mnt));
}

/// The helper installed at /sbin for the test and removed after, only if
/// there was none (O_EXCL: another run's or a real install is left alone).
struct InstalledHelper(PathBuf);

impl InstalledHelper {
    fn install() -> Option<InstalledHelper> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = PathBuf::from("/sbin/mount.fuse.vodfs");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&path)
            .ok()?;
        let guard = InstalledHelper(path);
        f.write_all(&std::fs::read(helper()).expect("helper"))
            .expect("write helper");
        Some(guard)
    }
}

impl Drop for InstalledHelper {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn mount_t_fuse_vodfs_works_as_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: mount -t fuse.vodfs needs root");
        return;
    }
    let Some(_installed) = InstalledHelper::install() else {
        eprintln!("SKIPPED: /sbin/mount.fuse.vodfs exists already; not replacing it");
        return;
    };
    let svc = Service::start();
    let dirs = MountDirs::new();
    let (mnt, cache) = (dirs.mountpoint.clone(), dirs.cache.clone());
    run(Command::new("mount")
        .args(["-t", "fuse.vodfs", "none"])
        .arg(&mnt)
        .arg("-o")
        .arg(format!("endpoint={},cache={}", svc.url, cache.display()))
        .env("VODFS_BIN", vodfs_bin())
        .env("VODFS_SECRET_ID", SECRET_ID)
        .env("VODFS_SECRET_KEY", SECRET_KEY));
    assert!(is_mounted(&mnt), "mount -t fuse.vodfs mounted nothing");
    copy_and_check(&svc, &mnt, "c.mp4", 3);
    unmount_and_reap(&mnt);
}

#[test]
fn install_script_is_idempotent_and_uninstalls() {
    let dest = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install");
    let install = |extra: &[&str]| {
        run(Command::new(&script)
            .args(extra)
            .env("DESTDIR", dest.path())
            .env("VODFS_BIN", vodfs_bin()))
    };
    let files = [
        "usr/local/bin/vodfs",
        "sbin/mount.fuse.vodfs",
        "usr/local/share/man/man1/vodfs.1",
        "usr/local/share/bash-completion/completions/vodfs",
        "usr/local/share/zsh/site-functions/_vodfs",
        "usr/local/share/fish/vendor_completions.d/vodfs.fish",
    ];
    for _ in 0..2 {
        install(&[]);
        for f in files {
            assert!(dest.path().join(f).is_file(), "{f} not installed");
        }
    }
    assert_eq!(
        std::fs::read(dest.path().join("sbin/mount.fuse.vodfs")).expect("helper"),
        std::fs::read(helper()).expect("helper source")
    );
    install(&["--uninstall"]);
    for f in files {
        assert!(!dest.path().join(f).exists(), "{f} left after --uninstall");
    }
}
