//! The command line itself: completions, help, errors outside a mount.

use std::process::Command;

use crate::common::*;

fn vodfs(args: &[&str]) -> std::process::Output {
    Command::new(vodfs_bin())
        .args(args)
        .output()
        .expect("run vodfs")
}

#[test]
fn completions_for_each_shell_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = vodfs(&["completions", shell]);
        assert!(out.status.success(), "completions {shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for sub in ["serve", "mount", "wait", "completions"] {
            assert!(text.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    // The bash script is valid bash.
    let out = vodfs(&["completions", "bash"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("vodfs.bash");
    std::fs::write(&script, &out.stdout).expect("write");
    run(Command::new("bash").arg("-n").arg(&script));
}

#[test]
fn man_subcommand_prints_the_committed_page() {
    let out = vodfs(&["man"]);
    assert!(out.status.success());
    let page = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/man/vodfs.1")).expect("page");
    assert_eq!(out.stdout, page);
}

#[test]
fn wait_outside_a_mount_fails_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("plain.mp4");
    std::fs::write(&f, b"x").expect("write");
    let out = vodfs(&["wait", f.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plain.mp4"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let out = vodfs(&["mount"]);
    assert_eq!(out.status.code(), Some(2));
    let out = vodfs(&["mount", "/nonexistent-dir-xyz", "-o", "bogus"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
}

/// `vodfs status` with no mount point reports every live vodfs mount; one
/// whose process died (its mount point answers ENOTCONN) is named on
/// stderr and does not fail the others' report.
#[test]
fn status_without_a_mount_point_reports_the_live_mounts_beside_a_dead_one() {
    let svc = Service::start();
    let live = Mount::new(&svc);
    let mut dead = Mount::new(&svc);
    let bytes = random_bytes(10_000, 5);
    std::fs::write(live.path("a.mp4"), &bytes).expect("write");
    assert_committed(&svc, &live.path("a.mp4"), &bytes);
    dead.kill9_leaving_the_mount();
    let out = vodfs(&["status"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "status failed: {stdout}\n{stderr}");
    assert!(
        stdout.contains(&live.mountpoint.display().to_string()),
        "the live mount is reported: {stdout}"
    );
    assert!(
        stderr.contains(&dead.mountpoint.display().to_string()),
        "the dead mount is named on stderr: {stderr}"
    );
}
