//! Each real tool that writes files, into a real mount. The bodies that do
//! not depend on the flow run for every flow; cp of a real MP4 and rsync
//! of a tree are in `flows` (`cp_rsync_and_write_back_commit`).

use std::process::Command;

use crate::common::*;

for_each_flow!(
    cp_commits_and_url_serves_the_bytes,
    rsync_inplace_commits_once
);

fn cp_commits_and_url_serves_the_bytes(flow: Flow) {
    let svc = Service::start();
    let m = flow.mount(&svc, &[]);
    // Not a multiple of the part size, several parts.
    let data = random_bytes(3 * 1024 * 1024 + 12345, 1);
    let (_d, src) = local_file("holiday.mp4", &data);
    run(Command::new("cp").arg(&src).arg(m.path("holiday.mp4")));
    let c = assert_committed(&svc, &m.path("holiday.mp4"), &data);
    assert_eq!(c.record["name"].as_str(), Some("holiday"));
    assert_eq!(c.record["flow"].as_str(), Some(flow.family), "{}", c.record);
    assert_eq!(
        getfattr(&m.path("holiday.mp4"), "user.vod.name").as_deref(),
        Some("holiday")
    );
    // by-id holds the same bytes and xattrs.
    let by_id = m.path("by-id").join(&c.file_id);
    assert_eq!(std::fs::read(&by_id).expect("by-id entry"), data);
    assert_eq!(getfattr(&by_id, "user.vod.url"), Some(c.url.clone()));
    let listing: Vec<String> = std::fs::read_dir(m.path("by-id"))
        .expect("by-id")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listing, vec![c.file_id.clone()]);
    assert_eq!(svc.media_count(), 1);
}

#[test]
fn ffmpeg_into_the_mount_gives_a_playable_media() {
    let svc = Service::start();
    let m = Mount::new(&svc);
    // ffmpeg seeks back to patch the moov/mdat header after writing.
    let out = make_mp4(&m.mountpoint, "clip.mp4", 2);
    let bytes = std::fs::read(&out).expect("read back");
    let c = assert_committed(&svc, &out, &bytes);
    assert!(ffprobe_duration(&c.url) > 1.5);
    assert_eq!(
        svc.media_count(),
        1,
        "ffmpeg -y must give exactly one media"
    );
}

#[test]
fn dd_and_shell_redirection_and_tee() {
    let svc = Service::start();
    // v4: the same content twice is an instant upload (API 3.0 has none).
    let m = Mount::with_args(&svc, &["--protocol", "v4"]);
    let data = random_bytes(2 * 1024 * 1024 + 7, 2);
    let (_d, src) = local_file("in.bin", &data);
    run(Command::new("dd")
        .arg(format!("if={}", src.display()))
        .arg(format!("of={}", m.path("dd.mp4").display()))
        .args(["bs=64k", "status=none"]));
    assert_committed(&svc, &m.path("dd.mp4"), &data);

    run(Command::new("sh")
        .arg("-c")
        .arg(format!("echo x > '{}'", m.path("echo.mp4").display())));
    assert_committed(&svc, &m.path("echo.mp4"), b"x\n");

    run(Command::new("sh").arg("-c").arg(format!(
        "cat '{}' | tee '{}' > /dev/null",
        src.display(),
        m.path("tee.mp4").display()
    )));
    let c = assert_committed(&svc, &m.path("tee.mp4"), &data);
    // dd.mp4 and tee.mp4 have the same content: one media, instant upload.
    assert_eq!(
        getfattr(&m.path("dd.mp4"), "user.vod.file_id"),
        Some(c.file_id)
    );
    assert_eq!(svc.media_count(), 2);
}

fn rsync_inplace_commits_once(flow: Flow) {
    let svc = Service::start();
    let m = flow.mount(&svc, &[]);
    let data = random_bytes(2_000_000, 5);
    let (_d, src) = local_file("in.mp4", &data);
    run(Command::new("rsync")
        .arg("--inplace")
        .arg(&src)
        .arg(m.path("in.mp4")));
    assert_committed(&svc, &m.path("in.mp4"), &data);
    assert_eq!(svc.media_count(), 1);
}
