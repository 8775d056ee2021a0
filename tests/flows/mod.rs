//! Every upload flow through a real mount: the same test bodies run with
//! `--protocol v4`, `ugc`, `ugc-ex`, `apply`, `frontwize` and `api3` against
//! `vodfs serve` (the service records which family created each media: A,
//! D, B, C, F, api3). `ugc` and `ugc-ex` mounts sign locally unless a test
//! gives `--ugc-signer[-cmd]`; the signers themselves are tested in
//! [`signers`], and `ugc` on a machine without the key in [`ugc_client`].

use std::process::Command;

use crate::common::*;

mod api3_flow;
mod covers;
mod early;
mod early_grown;
mod names;
mod progress;
mod resume;
mod signers;
mod tls;
mod ugc_client;
mod ugc_resume;

/// cp of a random multi-part file and of a real MP4 (which plays from its
/// URL), rsync of a tree twice (committed under the final names, nothing
/// sent the second time), then `--write-back` and `vodfs wait`; every
/// media carries the flow's family.
fn cp_rsync_and_write_back_commit(flow: Flow) {
    let svc = Service::start();
    let mut m = flow.mount(&svc, &[]);
    let src = tempfile::tempdir().expect("tempdir");
    let random = random_bytes(3 * 1_048_576 + 5, 41);
    std::fs::write(src.path().join("random.mp4"), &random).expect("write");
    let mp4 = make_mp4(src.path(), "real.mp4", 2);
    let mp4_bytes = std::fs::read(&mp4).expect("read mp4");

    run(Command::new("cp")
        .arg(src.path().join("random.mp4"))
        .arg(m.path("random.mp4")));
    let c = assert_committed(&svc, &m.path("random.mp4"), &random);
    assert_eq!(c.record["flow"].as_str(), Some(flow.family), "{}", c.record);
    run(Command::new("cp").arg(&mp4).arg(m.path("real.mp4")));
    let c = assert_committed(&svc, &m.path("real.mp4"), &mp4_bytes);
    assert_eq!(c.record["flow"].as_str(), Some(flow.family), "{}", c.record);
    assert!(ffprobe_duration(&c.url) > 1.5);
    assert_eq!(svc.media_count(), 2);

    let tiny = random_bytes(10, 44);
    std::fs::create_dir(src.path().join("sub")).expect("mkdir");
    std::fs::write(src.path().join("sub/b.mov"), &tiny).expect("write");

    let from = format!("{}/", src.path().display());
    std::fs::create_dir(m.path("sync")).expect("mkdir");
    let to = format!("{}/", m.path("sync").display());
    run(Command::new("rsync").args(["-a", &from, &to]));
    // The same contents again under other names (v4 and ugc answer them as
    // instant uploads); never a temp name.
    let c = assert_committed(&svc, &m.path("sync/random.mp4"), &random);
    assert_eq!(c.record["name"].as_str(), Some("random"));
    assert_eq!(c.record["flow"].as_str(), Some(flow.family));
    assert_committed(&svc, &m.path("sync/real.mp4"), &mp4_bytes);
    let c = assert_committed(&svc, &m.path("sync/sub/b.mov"), &tiny);
    assert_eq!(c.record["name"].as_str(), Some("b"));
    for r in svc.media() {
        let name = r["name"].as_str().unwrap_or_default();
        assert!(
            !name.starts_with('.'),
            "a temp name reached the service: {r}"
        );
    }
    let after_first = svc.media_count();
    let stats = run(Command::new("rsync").args(["-a", "--stats", &from, &to]));
    assert!(
        stats.contains("Number of regular files transferred: 0"),
        "second rsync transferred files:\n{stats}"
    );
    assert_eq!(svc.media_count(), after_first);
    m.unmount();

    let m = flow.mount(&svc, &["--write-back=0.2"]);
    let wb = random_bytes(1_500_000, 42);
    std::fs::write(m.path("wb.mp4"), &wb).expect("write");
    let out = wait(&[&m.path("wb.mp4")]);
    let c = assert_committed(&svc, &m.path("wb.mp4"), &wb);
    assert!(out.contains(&c.file_id), "wait printed {out:?}");
    assert_eq!(c.record["flow"].as_str(), Some(flow.family));
}

/// The mount is killed (SIGKILL) while a large file uploads against a
/// slowed service; the remount resumes and commits it once.
fn killed_mid_upload_resumes_after_remount(flow: Flow) {
    let svc = Service::start_with(&[
        "--faults",
        "rate=1,seed=1,kinds=slow,slow_ms=2000,actions=UploadPart+UploadPartEx+CosPut+FwPut",
    ]);
    let mut m = flow.mount(&svc, &["--write-back=0.1"]);
    let data = random_bytes(6 * 1_048_576 + 7, 43);
    std::fs::write(m.path("big.mp4"), &data).expect("write");
    let path = m.path("big.mp4");
    let mut seen = Vec::new();
    loop {
        let state = getfattr(&path, "user.vod.state").unwrap_or_default();
        if state == "uploading" {
            break;
        }
        assert_ne!(
            state, "committed",
            "committed before the kill; seen {seen:?}"
        );
        assert_ne!(state, "failed", "{:?}", getfattr(&path, "user.vod.error"));
        if seen.last() != Some(&state) {
            seen.push(state);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    m.kill9();
    svc.admin_put("/admin/faults", "off");
    m.start();
    wait(&[&path]);
    let c = assert_committed(&svc, &path, &data);
    assert_eq!(c.record["flow"].as_str(), Some(flow.family));
    assert_eq!(svc.media_count(), 1, "committed once");
    assert!(
        m.log().contains("resuming 1 unfinished upload"),
        "the remount did not resume:\n{}",
        m.log()
    );
}

/// Directory settings (nearest directory wins, mount options are the
/// defaults) reach the service's media record, as far as the flow's
/// protocol carries them; invalid values are refused at setfattr.
fn directory_settings_reach_the_media_record(flow: Flow) {
    let svc = Service::start();
    let m = flow.mount(&svc, &["--class-id", "5", "--procedure", "mountproc"]);
    std::fs::create_dir_all(m.path("shows/s1")).expect("mkdir");
    let shows = m.path("shows");
    for (name, value) in [
        ("class_id", "12"),
        ("tags", "drama, hd"),
        ("procedure", "QCVB_SimpleProcessFile(1, 1)"),
        ("source_context", "ctx-42"),
    ] {
        setfattr(&shows, &format!("user.vod.{name}"), value).expect("valid setting");
    }
    setfattr(&m.path("shows/s1"), "user.vod.class_id", "13").expect("valid setting");
    for (name, value) in [
        ("class_id", "twelve"),
        ("tags", "1,2,3,4,5,6,7,8,9,10,11"),
        ("transcode", "maybe"),
    ] {
        let err = setfattr(&shows, &format!("user.vod.{name}"), value)
            .expect_err("an invalid setting is refused");
        assert!(err.contains("Invalid argument"), "{name}={value}: {err}");
        assert!(
            m.log().contains(&format!("user.vod.{name} on inode")),
            "no log line for {name}:\n{}",
            m.log()
        );
    }
    assert_eq!(
        getfattr(&shows, "user.vod.class_id").as_deref(),
        Some("12"),
        "a refused value must not replace the stored one"
    );

    let top = random_bytes(1000, 61);
    let a = random_bytes(1_100_000, 62);
    let b = random_bytes(2000, 63);
    std::fs::write(m.path("top.mp4"), &top).expect("write");
    std::fs::write(m.path("shows/a.mp4"), &a).expect("write");
    std::fs::write(m.path("shows/s1/b.mp4"), &b).expect("write");
    let top = assert_committed(&svc, &m.path("top.mp4"), &top).record;
    let a = assert_committed(&svc, &m.path("shows/a.mp4"), &a).record;
    let b = assert_committed(&svc, &m.path("shows/s1/b.mp4"), &b).record;
    let err = setfattr(&m.path("shows/a.mp4"), "user.vod.class_id", "3")
        .expect_err("settings belong to directories");
    assert!(err.contains("Invalid argument"), "{err}");
    for r in [&top, &a, &b] {
        assert_eq!(r["flow"].as_str(), Some(flow.family), "{r}");
    }
    // classId travels in every flow.
    assert_eq!(top["classId"], 5, "{top}");
    assert_eq!(a["classId"], 12, "{a}");
    assert_eq!(b["classId"], 13, "{b}");
    let tags = |r: &serde_json::Value| -> Vec<String> {
        r["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    if matches!(flow.protocol, "v4" | "ugc-ex") {
        assert_eq!(tags(&a), ["drama", "hd"], "{a}");
        assert_eq!(tags(&b), ["drama", "hd"], "inherited per setting: {b}");
        assert!(tags(&top).is_empty(), "{top}");
    }
    if matches!(flow.protocol, "v4" | "apply" | "ugc") {
        assert_eq!(top["procedure"], "mountproc", "{top}");
        assert_eq!(a["procedure"], "QCVB_SimpleProcessFile(1, 1)", "{a}");
    }
    if matches!(flow.protocol, "apply" | "ugc") {
        assert_eq!(a["sourceContext"], "ctx-42", "{a}");
        assert_eq!(b["sourceContext"], "ctx-42", "{b}");
    }
}

for_each_flow!(
    cp_rsync_and_write_back_commit,
    directory_settings_reach_the_media_record,
    killed_mid_upload_resumes_after_remount,
);

/// `--protocol apply` with only `--endpoint`, as a new user would mount
/// against a `vodfs serve`: object-storage requests go to the endpoint's
/// address with the bucket's Host header, never to a DNS lookup of the
/// bucket's name.
#[test]
fn apply_with_only_an_endpoint_reaches_object_storage_at_the_endpoint() {
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--protocol", "apply"]);
    let data = random_bytes(2 * 1_048_576 + 7, 45);
    let (_d, src) = local_file("solo.mp4", &data);
    run(Command::new("cp").arg(&src).arg(m.path("solo.mp4")));
    let c = assert_committed(&svc, &m.path("solo.mp4"), &data);
    assert_eq!(c.record["flow"].as_str(), Some("C"), "{}", c.record);
    assert!(!m.log().contains("dns error"), "{}", m.log());
}
