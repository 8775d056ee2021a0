//! One cache, one mount; one data directory, one service (issue 13 §6): a
//! second holder is refused naming the mount point (or address) and pid of
//! the first; the lock goes with its holder, so a mount after a kill -9 of
//! the first works.

use std::process::Command;

use crate::common::*;

#[test]
fn a_second_mount_on_a_cache_in_use_is_refused_naming_the_first() {
    let svc = Service::start();
    let mut m = Mount::new(&svc);
    let other = tempfile::tempdir().expect("tempdir");
    let out = Command::new(vodfs_bin())
        .args(["mount", "--foreground", "--endpoint", &svc.url, "--cache"])
        .arg(&m.cache)
        .arg(other.path())
        .env("VODFS_SECRET_ID", SECRET_ID)
        .env("VODFS_SECRET_KEY", SECRET_KEY)
        .output()
        .expect("second vodfs mount");
    assert!(!out.status.success(), "the second mount ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&m.mountpoint.display().to_string()),
        "the first mount point is not named: {stderr}"
    );
    assert!(stderr.contains("pid "), "no pid: {stderr}");
    assert!(!is_mounted(other.path()));
    // The first mount is untouched.
    std::fs::write(m.path("still.mp4"), random_bytes(1000, 3)).expect("write");
    assert_eq!(
        getfattr(&m.path("still.mp4"), "user.vod.state").as_deref(),
        Some("committed")
    );

    // kill -9 releases the lock: the cache mounts again.
    m.kill9();
    m.start();
    assert_eq!(
        getfattr(&m.path("still.mp4"), "user.vod.state").as_deref(),
        Some("committed")
    );
}

#[test]
fn a_second_service_on_a_data_directory_in_use_is_refused() {
    let svc = Service::start();
    let out = Command::new(vodfs_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&svc.data)
        .output()
        .expect("second vodfs serve");
    assert!(!out.status.success(), "the second service ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("vodfs serve on {}", svc.addr)),
        "{stderr}"
    );
    assert!(stderr.contains("pid "), "{stderr}");
}
