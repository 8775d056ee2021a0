//! Small files by the hundred (issue 16): `cp -r` of a directory of small
//! files into a `--write-back 0` mount costs each file only the round trips
//! its flow needs, and the cache's batched state changes (closes sealed
//! without a sync of their own, made durable with the data right after)
//! lose nothing when the mount is killed with SIGKILL right after the last
//! close.

use super::*;

/// `n` small files of 20–60 KiB in a local directory, as `Source`s named
/// `dir/…` relative to the mount.
fn small_dir(n: usize, seed: u64) -> (tempfile::TempDir, Vec<Source>) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("small")).expect("mkdir");
    let srcs: Vec<Source> = (0..n)
        .map(|i| Source {
            name: format!("small/f{i:04}.mp4"),
            bytes: random_bytes(
                20 * 1024 + (i * 331) % (40 * 1024),
                seed * 10_000 + i as u64,
            ),
        })
        .collect();
    for s in &srcs {
        std::fs::write(dir.path().join(&s.name), &s.bytes).expect("local file");
    }
    (dir, srcs)
}

fn requests(stats: &serde_json::Value, action: &str) -> u64 {
    stats["actions"][action]["requests"].as_u64().unwrap_or(0)
}

#[test]
fn small_files_cp_r_commits_each_with_exactly_the_requests_its_flow_needs() {
    const N: usize = 300;
    for (flow, per_file) in [
        ("api3", &["ApplyUpload", "CosPut", "CommitUpload"][..]),
        ("apply", &["ApplyUpload", "CosPut", "CommitUpload"][..]),
        ("v4", &["InitUpload", "UploadPart", "FinishUpload"][..]),
    ] {
        let svc = Service::start_with(&["--no-rate-limit"]);
        let m = Mount::with_args(
            &svc,
            &["--protocol", flow, "--write-back=0", "--no-rate-limit"],
        );
        let (src, srcs) = small_dir(N, 31);
        let cp = Command::new("cp")
            .arg("-r")
            .arg(src.path().join("small"))
            .arg(m.path("small"))
            .status()
            .expect("cp");
        assert!(cp.success(), "{flow}: cp -r");
        let paths: Vec<_> = srcs.iter().map(|s| m.path(&s.name)).collect();
        wait_all(&m, &paths);
        assert_eq!(assert_all_committed_once(&svc, &m.mountpoint, &srcs), N);
        let st = stats(&svc);
        for action in per_file {
            assert_eq!(
                requests(&st, action),
                N as u64,
                "{flow}: {action} once per file: {st}"
            );
        }
        // Nothing else per file: no probe, no second look-up.
        let all: u64 = st["actions"]
            .as_object()
            .expect("actions")
            .values()
            .map(|a| a["requests"].as_u64().unwrap_or(0))
            .sum();
        let needed = per_file.len() as u64 * N as u64;
        assert!(
            all <= needed + 2,
            "{flow}: {all} requests for {N} files, {needed} needed: {st}"
        );
    }
}

#[test]
fn small_files_kill9_of_the_mount_right_after_the_last_close_loses_none() {
    const N: usize = 200;
    let svc = Service::start_with(&["--no-rate-limit"]);
    let mut m = Mount::with_args(&svc, &["--write-back=0", "--no-rate-limit"]);
    let (_src, srcs) = small_dir(N, 32);
    std::fs::create_dir(m.path("small")).expect("mkdir in the mount");
    for s in &srcs {
        std::fs::write(m.path(&s.name), &s.bytes).expect("write");
    }
    // Every close returned: each file has a state the user can see (the
    // batched seal, before any sync of its own) …
    for s in &srcs {
        let state = getfattr(&m.path(&s.name), "user.vod.state");
        assert!(
            matches!(
                state.as_deref(),
                Some("staged" | "hashing" | "uploading" | "committing" | "committed")
            ),
            "{}: state {state:?} right after its close",
            s.name
        );
    }
    // … and a kill -9 right now loses none of them.
    m.kill9();
    m.start();
    for s in &srcs {
        assert!(
            std::fs::read(m.path(&s.name)).expect("read after the restart") == s.bytes,
            "{}: bytes after the restart",
            s.name
        );
    }
    let paths: Vec<_> = srcs.iter().map(|s| m.path(&s.name)).collect();
    wait_all(&m, &paths);
    assert_eq!(assert_all_committed_once(&svc, &m.mountpoint, &srcs), N);
}
