//! Parts sent while the file is written (api3, the default flow): the
//! service holds parts of a file before its close, the commit sends the
//! rest (and again what was rewritten) and commits exactly the content at
//! close; a file removed or renamed to a temporary name before its close
//! leaves no media and no open multipart upload.

use std::io::{Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use crate::common::*;

/// Waits (generously) until `what` holds; panics naming `why` otherwise.
fn wait_until(why: &str, mut what: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !what() {
        assert!(t0.elapsed() < Duration::from_secs(120), "never: {why}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes `bytes` to an open file in 1 MiB writes.
/// No multipart upload is left open on the service.
fn assert_no_open_multipart(svc: &Service) {
    let open = svc.open_multipart();
    assert!(open.is_empty(), "multipart uploads left open: {open:?}");
}

/// The commit resumed the session whose parts went up during the write.
fn assert_resumed_early(m: &Mount) {
    assert!(
        m.log()
            .contains("resuming the parts sent while it was written"),
        "{}",
        tail(&m.log(), 30)
    );
}

fn write_in_mib(f: &mut std::fs::File, bytes: &[u8]) {
    for c in bytes.chunks(1 << 20) {
        f.write_all(c).expect("write");
    }
}

#[test]
fn early_parts_go_up_before_the_close_and_the_commit_is_the_content_at_close() {
    let svc = Service::start();
    let m = Mount::new(&svc);
    let path = m.path("early.mp4");
    let mut data = random_bytes((20 << 20) + 12345, 71);
    let mut f = std::fs::File::create(&path).expect("create");
    write_in_mib(&mut f, &data[..12 << 20]);
    // The file is still open: parts are at the service already.
    wait_until("parts held before the close", || {
        svc.open_multipart().iter().any(|(_, n)| *n >= 4)
    });
    let before_close = svc.admin("/admin/stats")["partsReceived"]
        .as_u64()
        .unwrap_or(0);
    assert!(before_close >= 4, "{before_close} parts before the close");
    assert_eq!(svc.media_count(), 0, "nothing committed before the close");
    write_in_mib(&mut f, &data[12 << 20..]);
    // A muxer patching its header: part 0, already sent, changes.
    let patch = random_bytes(4096, 72);
    data[..4096].copy_from_slice(&patch);
    f.seek(SeekFrom::Start(0)).expect("seek");
    f.write_all(&patch).expect("patch the head");
    drop(f);
    let c = assert_committed(&svc, &path, &data);
    assert_eq!(c.record["flow"].as_str(), Some("api3"), "{}", c.record);
    assert_eq!(svc.media_count(), 1);
    assert_no_open_multipart(&svc);
    let total = svc.admin("/admin/stats")["partsReceived"]
        .as_u64()
        .unwrap_or(0);
    // 21 parts; at least the patched head again and the tail at the close.
    assert!(total >= 22, "{total} parts received for 21 and a patch");
    assert_resumed_early(&m);
    println!("early: {before_close} parts before the close, {total} in all");
}

#[test]
fn early_a_file_unlinked_or_renamed_to_a_temp_name_mid_write_leaves_nothing() {
    let svc = Service::start();
    let m = Mount::new(&svc);
    let data = random_bytes(8 << 20, 73);
    // Unlinked while written.
    let mut f = std::fs::File::create(m.path("gone.mp4")).expect("create");
    write_in_mib(&mut f, &data);
    wait_until("parts of gone.mp4 held", || {
        !svc.open_multipart().is_empty()
    });
    std::fs::remove_file(m.path("gone.mp4")).expect("unlink");
    write_in_mib(&mut f, &data[..1 << 20]);
    drop(f);
    wait_until("the unlinked file's upload aborted", || {
        svc.open_multipart().is_empty()
    });
    // Renamed to a temporary name while written, then removed.
    let mut f = std::fs::File::create(m.path("edit.mp4")).expect("create");
    write_in_mib(&mut f, &data);
    wait_until("parts of edit.mp4 held", || {
        !svc.open_multipart().is_empty()
    });
    std::fs::rename(m.path("edit.mp4"), m.path(".edit.mp4.Ab12Cd")).expect("rename");
    wait_until("the renamed file's upload aborted", || {
        svc.open_multipart().is_empty()
    });
    drop(f);
    std::fs::remove_file(m.path(".edit.mp4.Ab12Cd")).expect("unlink");
    assert_eq!(svc.media_count(), 0, "a half media was committed");
    assert!(svc.open_multipart().is_empty());
}

#[test]
fn early_rsync_style_temp_file_commits_under_its_final_name_with_its_early_parts() {
    let svc = Service::start();
    let m = Mount::new(&svc);
    let data = random_bytes((9 << 20) + 3, 74);
    let temp = m.path(".clip.mp4.Xy12Z9");
    let mut f = std::fs::File::create(&temp).expect("create");
    write_in_mib(&mut f, &data);
    wait_until("parts of the temp file held", || {
        svc.open_multipart().iter().any(|(_, n)| *n >= 4)
    });
    drop(f);
    std::fs::rename(&temp, m.path("clip.mp4")).expect("rename to the final name");
    let c = assert_committed(&svc, &m.path("clip.mp4"), &data);
    assert_eq!(c.record["name"].as_str(), Some("clip"), "{}", c.record);
    assert_eq!(svc.media_count(), 1);
    assert_no_open_multipart(&svc);
    assert_resumed_early(&m);
}

#[test]
fn early_a_real_rsync_and_ffmpeg_into_the_mount_commit_playable_media() {
    let svc = Service::start();
    let m = Mount::new(&svc);
    // ffmpeg straight into the mount, big enough to send parts early; it
    // seeks back to patch the mp4 header after writing the rest.
    let out = m.path("big.mp4");
    ffmpeg_mp4(
        &out,
        3,
        "640x480",
        &["-vf", "noise=alls=100:allf=t", "-c:v", "mpeg4", "-q:v", "2"],
    );
    let bytes = std::fs::read(&out).expect("read back");
    assert!(bytes.len() > 6 << 20, "only {} bytes", bytes.len());
    let c = assert_committed(&svc, &out, &bytes);
    assert!(ffprobe_duration(&c.url) > 2.5);
    // rsync of a big file: temp name, then rename.
    let src = tempfile::tempdir().expect("tempdir");
    let data = random_bytes(10 << 20, 75);
    std::fs::write(src.path().join("r.mp4"), &data).expect("write");
    run(std::process::Command::new("rsync")
        .arg(src.path().join("r.mp4"))
        .arg(m.path("r.mp4")));
    assert_committed(&svc, &m.path("r.mp4"), &data);
    assert_eq!(svc.media_count(), 2);
    assert_no_open_multipart(&svc);
}

#[test]
fn early_parts_in_write_back_mode_go_up_before_the_close_and_the_commit_resumes_them() {
    let svc = Service::start();
    // No quiet time: the upload may start as soon as it can.
    let m = Mount::with_args(&svc, &["--write-back=0"]);
    let path = m.path("wb.mp4");
    let data = random_bytes((10 << 20) + 99, 76);
    let mut f = std::fs::File::create(&path).expect("create");
    write_in_mib(&mut f, &data[..8 << 20]);
    wait_until("parts held before the close", || {
        svc.open_multipart().iter().any(|(_, n)| *n >= 4)
    });
    write_in_mib(&mut f, &data[8 << 20..]);
    drop(f);
    wait(&[&path]);
    assert_committed(&svc, &path, &data);
    assert_eq!(svc.media_count(), 1);
    assert_no_open_multipart(&svc);
    assert_resumed_early(&m);
}

#[test]
fn early_nothing_goes_up_before_the_close_with_no_early_parts_or_v4() {
    for args in [
        &["--no-early-parts"][..],
        &["--protocol", "v4"][..],
        &["--protocol", "ugc"][..],
        // A write-back quiet time: the upload waits for it, as asked.
        &["--write-back=1"][..],
    ] {
        let svc = Service::start();
        let m = Mount::with_args(&svc, args);
        let path = m.path("late.mp4");
        let data = random_bytes(8 << 20, 77);
        let mut f = std::fs::File::create(&path).expect("create");
        write_in_mib(&mut f, &data);
        // Give a sender every chance (a generous pause, not a deadline):
        // with these options there is none.
        std::thread::sleep(Duration::from_secs(2));
        let stats = svc.admin("/admin/stats");
        assert_eq!(
            stats["partsReceived"].as_u64(),
            Some(0),
            "{args:?}: {stats}"
        );
        drop(f);
        wait(&[&path]);
        assert_committed(&svc, &path, &data);
        assert!(!m.log().contains("resuming the parts sent"), "{args:?}");
    }
}

#[test]
fn early_parts_with_the_apply_flow_go_up_before_the_close_too() {
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--protocol", "apply"]);
    let path = m.path("apply.mp4");
    let mut data = random_bytes((9 << 20) + 1, 78);
    let mut f = std::fs::File::create(&path).expect("create");
    write_in_mib(&mut f, &data[..8 << 20]);
    wait_until("parts held before the close", || {
        svc.open_multipart().iter().any(|(_, n)| *n >= 4)
    });
    write_in_mib(&mut f, &data[8 << 20..]);
    data[..8].copy_from_slice(b"patched!");
    f.seek(SeekFrom::Start(0)).expect("seek");
    f.write_all(b"patched!").expect("patch");
    drop(f);
    let c = assert_committed(&svc, &path, &data);
    assert_eq!(c.record["flow"].as_str(), Some("C"), "{}", c.record);
    assert_eq!(svc.media_count(), 1);
    assert_no_open_multipart(&svc);
    assert!(
        m.log()
            .contains("resuming the parts sent while it was written")
    );
}

/// Real `cp` from a FIFO, so the test decides when its close comes: the
/// service holds parts of the file while cp still has it open (asserted
/// from the service's part count before the close, not from a time).
#[test]
fn early_cp_from_a_fifo_has_parts_at_the_service_before_its_close() {
    let svc = Service::start();
    let m = Mount::new(&svc);
    let src = random_bytes((24 << 20) + 777, 79);
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = m.path("cp.mp4");
    let (mut cp, mut w) = cp_from_fifo(dir.path(), &dest, std::process::Stdio::inherit());
    w.write_all(&src[..16 << 20]).expect("feed cp");
    wait_until("parts held while cp has the file open", || {
        svc.open_multipart().iter().any(|(_, n)| *n >= 4)
    });
    let held_before_close = svc.admin("/admin/stats")["partsReceived"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(svc.media_count(), 0);
    w.write_all(&src[16 << 20..]).expect("feed cp");
    drop(w);
    assert!(cp.wait().expect("cp").success(), "cp failed");
    assert_committed(&svc, &dest, &src);
    assert_no_open_multipart(&svc);
    println!("cp: {held_before_close} parts at the service before its close, of 25");
}
