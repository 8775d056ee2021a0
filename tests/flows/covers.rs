//! Covers from the mount: `movie.jpg` beside `movie.mp4` (either copied
//! first), `user.vod.cover` naming an image in a subdirectory, images never
//! committed as media of their own, and a cover failure that leaves its
//! video committed. v4 sends covers with SmallFileUpload; the other flows
//! have no cover call for a committed video (see the README), which shows
//! as `user.vod.cover_error` on a committed video.

use std::io::Write as _;

use crate::common::*;

/// The service's videos (covers are media of kind `cover`).
fn videos(svc: &Service) -> Vec<serde_json::Value> {
    svc.admin("/admin/media")
        .as_array()
        .expect("media list")
        .iter()
        .filter(|m| m["kind"] == "video")
        .cloned()
        .collect()
}

/// Asserts `video`'s cover is `image` both from the mount (`user.vod.cover_url`
/// serves its bytes) and at the service (the media record's `coverUrl`).
fn assert_cover(svc: &Service, m: &Mount, video: &str, image: &str, bytes: &[u8]) {
    let path = m.path(video);
    assert_eq!(
        getfattr(&path, "user.vod.cover_error"),
        None,
        "cover of {video} failed"
    );
    let url = getfattr(&path, "user.vod.cover_url").expect("user.vod.cover_url");
    assert!(fetch(&url) == bytes, "{url} does not serve the cover bytes");
    let file_id = getfattr(&path, "user.vod.file_id").expect("file_id");
    let record = svc.admin(&format!("/admin/media/{file_id}"));
    let at_service = record["coverUrl"].as_str().expect("coverUrl").to_string();
    assert!(fetch(&at_service) == bytes, "{record}");
    assert_eq!(
        getfattr(&m.path(image), "user.vod.state").as_deref(),
        Some("cover"),
        "{image}"
    );
}

#[test]
fn v4_covers_travel_with_their_videos() {
    let svc = Service::start();
    let m = Flow::named("v4").mount(&svc, &[]);

    // Video first, then its cover: the cover is sent on the image's close.
    let a = random_bytes(1_200_000, 71);
    let a_jpg = random_bytes(30_000, 72);
    std::fs::write(m.path("a.mp4"), &a).expect("write");
    assert_committed(&svc, &m.path("a.mp4"), &a);
    std::fs::write(m.path("a.jpg"), &a_jpg).expect("write");
    assert_cover(&svc, &m, "a.mp4", "a.jpg", &a_jpg);

    // Cover first: kept as an image until its video commits.
    let b = random_bytes(600_000, 73);
    let b_png = random_bytes(20_000, 74);
    std::fs::write(m.path("b.png"), &b_png).expect("write");
    assert_eq!(
        getfattr(&m.path("b.png"), "user.vod.state").as_deref(),
        Some("image")
    );
    std::fs::write(m.path("b.mp4"), &b).expect("write");
    assert_committed(&svc, &m.path("b.mp4"), &b);
    assert_cover(&svc, &m, "b.mp4", "b.png", &b_png);

    // user.vod.cover names an image in a subdirectory (set before close).
    std::fs::create_dir(m.path("posters")).expect("mkdir");
    let poster = random_bytes(10_000, 75);
    std::fs::write(m.path("posters/c.jpeg"), &poster).expect("write");
    let c = random_bytes(5000, 76);
    let mut f = std::fs::File::create(m.path("c.mp4")).expect("create");
    f.write_all(&c).expect("write");
    setfattr(&m.path("c.mp4"), "user.vod.cover", "posters/c.jpeg").expect("setfattr");
    for bad in ["/etc/c.jpg", "../c.jpg", "posters/c.gif"] {
        let err = setfattr(&m.path("c.mp4"), "user.vod.cover", bad).expect_err(bad);
        assert!(err.contains("Invalid argument"), "{bad}: {err}");
    }
    assert!(
        m.log().contains("user.vod.cover on inode"),
        "no log line for a refused cover:\n{}",
        m.log()
    );
    drop(f);
    assert_committed(&svc, &m.path("c.mp4"), &c);
    assert_cover(&svc, &m, "c.mp4", "posters/c.jpeg", &poster);

    // An image with no video is never a media.
    std::fs::write(m.path("lonely.png"), random_bytes(100, 77)).expect("write");
    assert_eq!(
        getfattr(&m.path("lonely.png"), "user.vod.state").as_deref(),
        Some("image")
    );
    assert_eq!(videos(&svc).len(), 3, "images are not videos");
    assert_eq!(
        svc.media_count(),
        6,
        "three videos and their three covers, nothing else"
    );
    // `vodfs status` counts images apart, never as uploads in progress.
    let status = run(std::process::Command::new(vodfs_bin())
        .arg("status")
        .arg(&m.mountpoint));
    assert!(
        status.contains("3 committed, 0 in progress, 0 failed")
            && status.contains("4 images (covers, not media)"),
        "{status}"
    );
}

#[test]
fn v4_an_oversized_cover_fails_without_harming_its_video() {
    let svc = Service::start();
    let m = Flow::named("v4").mount(&svc, &[]);
    let big = random_bytes(1_500_000, 78);
    std::fs::write(m.path("d.jpg"), &big).expect("write");
    let d = random_bytes(700_000, 79);
    std::fs::write(m.path("d.mp4"), &d).expect("close succeeds");
    assert_committed(&svc, &m.path("d.mp4"), &d);
    let why = getfattr(&m.path("d.mp4"), "user.vod.cover_error").expect("cover_error");
    assert!(why.contains("d.jpg") && why.contains("bytes"), "{why}");
    assert_eq!(getfattr(&m.path("d.mp4"), "user.vod.cover_url"), None);
    assert_eq!(
        getfattr(&m.path("d.jpg"), "user.vod.state").as_deref(),
        Some("failed")
    );
    assert!(getfattr(&m.path("d.jpg"), "user.vod.error").is_some_and(|e| e == why));
    assert!(m.log().contains("cover failed"), "{}", m.log());
    assert_eq!(videos(&svc).len(), 1);
    assert_eq!(svc.media_count(), 1);

    // A smaller cover written over it is sent for the committed video.
    let small = random_bytes(2000, 80);
    std::fs::write(m.path("d.jpg"), &small).expect("write");
    assert_cover(&svc, &m, "d.mp4", "d.jpg", &small);
}

#[test]
fn v4_a_video_committed_again_without_its_cover_drops_the_stale_cover_error() {
    let svc = Service::start();
    let m = Flow::named("v4").mount(&svc, &[]);
    std::fs::write(m.path("s.jpg"), random_bytes(1_500_000, 81)).expect("write");
    std::fs::write(m.path("s.mp4"), random_bytes(3000, 82)).expect("close succeeds");
    assert!(getfattr(&m.path("s.mp4"), "user.vod.cover_error").is_some());
    // The cover is gone; the video's next version has none, and says
    // nothing of the old one.
    std::fs::remove_file(m.path("s.jpg")).expect("rm");
    let again = random_bytes(4000, 83);
    std::fs::write(m.path("s.mp4"), &again).expect("close succeeds");
    assert_committed(&svc, &m.path("s.mp4"), &again);
    assert_eq!(getfattr(&m.path("s.mp4"), "user.vod.cover_error"), None);
    assert_eq!(getfattr(&m.path("s.mp4"), "user.vod.cover_url"), None);
}

/// Flows without a cover call for a committed video: the video commits,
/// the image stays an image, and the video says why it has no cover.
fn has_no_cover_call(flow: Flow) {
    let svc = Service::start();
    let m = flow.mount(&svc, &[]);
    std::fs::write(m.path("e.jpg"), random_bytes(1000, 81)).expect("write");
    let e = random_bytes(3000, 82);
    std::fs::write(m.path("e.mp4"), &e).expect("write");
    assert_committed(&svc, &m.path("e.mp4"), &e);
    let why = getfattr(&m.path("e.mp4"), "user.vod.cover_error").expect("cover_error");
    assert!(why.contains("cover"), "{why}");
    assert_eq!(videos(&svc).len(), 1);
    assert_eq!(svc.media_count(), 1);
}

for_each_flow!([ugc_ex, frontwize] has_no_cover_call);

#[test]
fn apply_covers_go_with_apply_upload() {
    covers_go_with_apply_upload(Flow::named("apply"));
}

/// API 3.0: CoverType with ApplyUpload, the PUT to CoverStoragePath,
/// CommitUpload's CoverUrl as `user.vod.cover_url`.
#[test]
fn api3_covers_go_with_apply_upload() {
    covers_go_with_apply_upload(Flow::named("api3"));
}

fn covers_go_with_apply_upload(flow: Flow) {
    let svc = Service::start();
    let m = flow.mount(&svc, &[]);

    // Cover first: it goes with the video's ApplyUpload and CommitUpload.
    let b = random_bytes(1_300_000, 83);
    let b_jpg = random_bytes(40_000, 84);
    std::fs::write(m.path("b.jpg"), &b_jpg).expect("write");
    std::fs::write(m.path("b.mp4"), &b).expect("write");
    let c = assert_committed(&svc, &m.path("b.mp4"), &b);
    assert_eq!(c.record["flow"], flow.family, "{}", c.record);
    assert_cover(&svc, &m, "b.mp4", "b.jpg", &b_jpg);

    // user.vod.cover into a subdirectory.
    std::fs::create_dir(m.path("art")).expect("mkdir");
    let poster = random_bytes(9000, 85);
    std::fs::write(m.path("art/p.png"), &poster).expect("write");
    let v = random_bytes(4000, 86);
    let mut f = std::fs::File::create(m.path("v.mp4")).expect("create");
    f.write_all(&v).expect("write");
    setfattr(&m.path("v.mp4"), "user.vod.cover", "art/p.png").expect("setfattr");
    drop(f);
    assert_committed(&svc, &m.path("v.mp4"), &v);
    assert_cover(&svc, &m, "v.mp4", "art/p.png", &poster);

    // Oversized: the video commits without it.
    std::fs::write(m.path("d.png"), random_bytes(1_100_000, 87)).expect("write");
    let d = random_bytes(3000, 88);
    std::fs::write(m.path("d.mp4"), &d).expect("write");
    assert_committed(&svc, &m.path("d.mp4"), &d);
    let why = getfattr(&m.path("d.mp4"), "user.vod.cover_error").expect("cover_error");
    assert!(why.contains("bytes"), "{why}");

    // A cover added after its video committed: the flow has no call for it.
    let a = random_bytes(2000, 89);
    std::fs::write(m.path("a.mp4"), &a).expect("write");
    assert_committed(&svc, &m.path("a.mp4"), &a);
    std::fs::write(m.path("a.jpg"), random_bytes(500, 90)).expect("write");
    let why = getfattr(&m.path("a.mp4"), "user.vod.cover_error").expect("cover_error");
    assert!(why.contains(flow.protocol), "{why}");

    assert_eq!(videos(&svc).len(), 4, "images are not videos");
    assert_eq!(svc.media_count(), 6, "4 videos, 2 covers");
}

#[test]
fn v4_a_refused_cover_is_retried_with_vodfs_retry() {
    let svc = Service::start_with(&[
        "--faults",
        "rate=1,seed=1,kinds=negative,actions=SmallFileUpload",
    ]);
    let m = Flow::named("v4").mount(&svc, &[]);
    let jpg = random_bytes(3000, 92);
    std::fs::write(m.path("r.jpg"), &jpg).expect("write");
    let r = random_bytes(2000, 93);
    std::fs::write(m.path("r.mp4"), &r).expect("close succeeds");
    assert_committed(&svc, &m.path("r.mp4"), &r);
    let why = getfattr(&m.path("r.mp4"), "user.vod.cover_error").expect("cover_error");
    assert!(why.contains("SmallFileUpload"), "{why}");
    assert_eq!(
        getfattr(&m.path("r.jpg"), "user.vod.state").as_deref(),
        Some("failed")
    );
    assert!(
        m.log().contains("cover failed") && m.log().contains("SmallFileUpload"),
        "{}",
        m.log()
    );

    svc.admin_put("/admin/faults", "off");
    m.ctl(&["retry", "--timeout", "60"], &[m.path("r.jpg")]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while getfattr(&m.path("r.jpg"), "user.vod.state").as_deref() != Some("cover") {
        assert!(
            std::time::Instant::now() < deadline,
            "the retry never sent it"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_cover(&svc, &m, "r.mp4", "r.jpg", &jpg);
}

#[test]
fn v4_covers_in_write_back_mode_are_final_when_wait_returns() {
    let svc = Service::start();
    let m = Flow::named("v4").mount(&svc, &["--write-back=0.1"]);
    let jpg = random_bytes(5000, 94);
    let w = random_bytes(800_000, 95);
    std::fs::write(m.path("w.jpg"), &jpg).expect("write");
    std::fs::write(m.path("w.mp4"), &w).expect("write");
    super::wait(&[&m.path("w.mp4"), &m.path("w.jpg")]);
    assert_committed(&svc, &m.path("w.mp4"), &w);
    assert_cover(&svc, &m, "w.mp4", "w.jpg", &jpg);
}

#[test]
fn v4_rsync_of_a_directory_brings_covers() {
    let svc = Service::start();
    let m = Flow::named("v4").mount(&svc, &[]);
    let src = tempfile::tempdir().expect("tempdir");
    let (x, x_png) = (random_bytes(900_000, 96), random_bytes(7000, 97));
    std::fs::write(src.path().join("x.mp4"), &x).expect("write");
    // Upper case counts too (rsync sends x.PNG first: read at x.mp4's commit).
    std::fs::write(src.path().join("x.PNG"), &x_png).expect("write");
    let from = format!("{}/", src.path().display());
    std::fs::create_dir(m.path("in")).expect("mkdir");
    let to = format!("{}/", m.path("in").display());
    run(std::process::Command::new("rsync").args(["-a", &from, &to]));
    assert_committed(&svc, &m.path("in/x.mp4"), &x);
    assert_cover(&svc, &m, "in/x.mp4", "in/x.PNG", &x_png);
    assert_eq!(videos(&svc).len(), 1);
}
