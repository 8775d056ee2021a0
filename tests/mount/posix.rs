//! Symlinks, hard links and special files through a real mount against a
//! real `vodfs serve`: `rsync -aHAX` of a media tree with every file type
//! round-trips, each video content is one media; hard links survive a
//! remount; a hard-linked file rewritten through one name commits once.
//! The rsync round trip runs for every flow; api3 (the default) has no
//! instant upload, so there a content sent twice would be two media: the
//! media count tells how many uploads there were.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use crate::common::*;

fn mknod(p: &Path, mode: u32, rdev: u64) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let r = unsafe { libc::mknod(c.as_ptr(), mode, rdev) };
    assert_eq!(
        r,
        0,
        "mknod {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

/// A season folder as users have them: two episodes, a `latest` symlink,
/// hard-linked duplicates (one in another directory), dangling and
/// absolute symlinks, a symlink to a directory, a fifo, a socket left by a
/// recorder, a character and a block device node, a user xattr.
fn media_tree(root: &Path) -> (Vec<u8>, Vec<u8>) {
    let ep1 = random_bytes(300_000, 71);
    let ep2 = random_bytes(500_000, 72);
    let s = root.join("season");
    std::fs::create_dir_all(s.join("extras")).unwrap();
    std::fs::write(s.join("ep1.mp4"), &ep1).unwrap();
    std::fs::write(s.join("ep2.mp4"), &ep2).unwrap();
    std::fs::hard_link(s.join("ep1.mp4"), s.join("ep1-copy.mp4")).unwrap();
    std::fs::hard_link(s.join("ep1.mp4"), s.join("extras/ep1-dedup.mp4")).unwrap();
    std::os::unix::fs::symlink("ep2.mp4", s.join("latest.mp4")).unwrap();
    std::os::unix::fs::symlink("../ep1.mp4", s.join("extras/first.mp4")).unwrap();
    std::os::unix::fs::symlink("missing.mp4", s.join("dangling.mp4")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/abs.mp4", s.join("absolute.mp4")).unwrap();
    std::os::unix::fs::symlink("season", root.join("current")).unwrap();
    mknod(&s.join("recorder.fifo"), libc::S_IFIFO | 0o644, 0);
    drop(std::os::unix::net::UnixListener::bind(s.join("recorder.sock")).unwrap());
    mknod(&s.join("null"), libc::S_IFCHR | 0o600, libc::makedev(1, 3));
    mknod(&s.join("loop"), libc::S_IFBLK | 0o600, libc::makedev(7, 0));
    setfattr(&s.join("ep2.mp4"), "user.comment", "finale").unwrap();
    // Times as a copy keeps them.
    sh(&format!(
        "touch -h -d @1700000000 {}/latest.mp4",
        s.display()
    ));
    (ep1, ep2)
}

/// What `lstat` and `readlink` say of every path under `root`, with the
/// names that share an inode grouped (the first path of the group).
fn lstat_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut first: BTreeMap<u64, String> = BTreeMap::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(root.join(&rel)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if rel.is_empty() && name == "by-id" {
                continue;
            }
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let md = std::fs::symlink_metadata(root.join(&path)).unwrap();
            let t = md.file_type();
            let target = t
                .is_symlink()
                .then(|| std::fs::read_link(root.join(&path)).unwrap());
            let group = first
                .entry(md.ino())
                .or_insert_with(|| path.clone())
                .clone();
            let mtime = if t.is_dir() { 0 } else { md.mtime() };
            out.insert(
                path.clone(),
                format!(
                    "mode {:o} nlink {} rdev {} size {} mtime {mtime} uid {} target {target:?} inode of {group}",
                    md.mode(),
                    md.nlink(),
                    md.rdev(),
                    if t.is_dir() { 0 } else { md.len() },
                    md.uid()
                ),
            );
            if t.is_dir() {
                stack.push(path);
            }
        }
    }
    // Groups depend on the walk's order: name each by its smallest path.
    let mut canon: BTreeMap<String, String> = BTreeMap::new();
    for (path, line) in &out {
        let group = line.rsplit("inode of ").next().unwrap().to_string();
        canon.entry(group).or_insert_with(|| path.clone());
    }
    out.into_iter()
        .map(|(p, line)| {
            let (head, group) = line.rsplit_once("inode of ").unwrap();
            (p, format!("{head}inode of {}", canon[group]))
        })
        .collect()
}

/// `diff -r --no-dereference` finds no difference. diff cannot compare
/// fifos and sockets and says so for any two of them ("File A is a fifo
/// while file B is a fifo", exit 1), and it opens device nodes (the loop
/// device here may not read): such lines are accepted when both sides are
/// of the same special type (their rdev is compared by `lstat_tree`),
/// anything else fails.
fn assert_same_by_diff(a: &Path, b: &Path) {
    let out = Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let same_type = line
            .strip_prefix("File ")
            .and_then(|rest| rest.split_once(" while file "))
            .and_then(|(x, y)| Some((x.rsplit_once(" is a ")?.1, y.rsplit_once(" is a ")?.1)))
            .is_some_and(|(x, y)| {
                x == y
                    && [
                        "fifo",
                        "socket",
                        "block special file",
                        "character special file",
                    ]
                    .contains(&x)
            });
        assert!(same_type, "diff -r --no-dereference: {line}");
    }
    assert!(
        out.status.code() == Some(0) || (out.status.code() == Some(1) && !text.is_empty()),
        "diff failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rsync(args: &[&str], from: &Path, to: &Path) -> String {
    run(Command::new("rsync")
        .args(args)
        .arg(format!("{}/", from.display()))
        .arg(format!("{}/", to.display())))
}

for_each_flow!(rsync_ahax_of_every_file_type_round_trips_with_one_media_per_video);

fn rsync_ahax_of_every_file_type_round_trips_with_one_media_per_video(flow: Flow) {
    let svc = Service::start();
    let m = flow.mount(&svc, &[]);
    let src = tempfile::tempdir().unwrap();
    let (ep1, ep2) = media_tree(src.path());
    let dst = m.path("tree");

    rsync(&["-aHAX"], src.path(), &dst);
    // The computed user.vod.* attributes are not listed (only read by
    // name), so -X finds no attribute difference on the videos.
    let again = rsync(&["-aHAXn", "-i"], src.path(), &dst);
    assert_eq!(again, "", "a second rsync -aHAXn -i finds differences");

    // In the mount: one inode for the three names, the links resolved by
    // the kernel, the target's state read through a symlink.
    let s = dst.join("season");
    let (a, b) = (
        std::fs::metadata(s.join("ep1.mp4")).unwrap(),
        std::fs::metadata(s.join("extras/ep1-dedup.mp4")).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 3));
    assert_eq!(std::fs::read(s.join("latest.mp4")).unwrap(), ep2);
    assert_eq!(std::fs::read(s.join("extras/first.mp4")).unwrap(), ep1);
    assert_eq!(std::fs::read(dst.join("current/ep2.mp4")).unwrap(), ep2);
    let c1 = assert_committed(&svc, &s.join("ep1.mp4"), &ep1);
    let c2 = assert_committed(&svc, &s.join("latest.mp4"), &ep2);
    assert_eq!(
        getfattr(&s.join("ep1-copy.mp4"), "user.vod.file_id"),
        Some(c1.file_id.clone())
    );
    let h = Command::new("getfattr")
        .args(["-h", "-d", "-m", "-", "--absolute-names"])
        .arg(s.join("latest.mp4"))
        .output()
        .unwrap();
    assert!(h.status.success());
    assert_eq!(
        String::from_utf8_lossy(&h.stdout),
        "",
        "getfattr -h of a symlink"
    );
    let fifo = std::fs::symlink_metadata(s.join("recorder.fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    let dev = std::fs::symlink_metadata(s.join("null")).unwrap();
    assert!(dev.file_type().is_char_device());
    assert_eq!(dev.rdev(), libc::makedev(1, 3));

    // One media per video content: two, whatever the number of names.
    assert_eq!(svc.media_count(), 2, "media at the service");
    let mut ids: Vec<String> = std::fs::read_dir(m.path("by-id"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    let mut want = vec![c1.file_id, c2.file_id];
    want.sort();
    assert_eq!(ids, want);

    // Out again: identical, types, links and all.
    let out = tempfile::tempdir().unwrap();
    rsync(&["-aHAX"], &dst, out.path());
    assert_eq!(lstat_tree(&dst), lstat_tree(src.path()));
    assert_eq!(lstat_tree(out.path()), lstat_tree(src.path()));
    assert_same_by_diff(src.path(), out.path());
    assert_eq!(
        getfattr(&out.path().join("season/ep2.mp4"), "user.comment").as_deref(),
        Some("finale")
    );
}

#[test]
fn hard_links_symlinks_and_special_files_survive_a_remount() {
    let svc = Service::start();
    let mut m = Mount::new(&svc);
    let bytes = random_bytes(400_000, 73);
    std::fs::create_dir_all(m.path("d/sub")).unwrap();
    std::fs::write(m.path("d/a.mp4"), &bytes).unwrap();
    std::fs::hard_link(m.path("d/a.mp4"), m.path("b.mp4")).unwrap();
    std::os::unix::fs::symlink("d/a.mp4", m.path("link.mp4")).unwrap();
    mknod(&m.path("d/fifo"), libc::S_IFIFO | 0o600, 0);
    mknod(&m.path("d/tty"), libc::S_IFCHR | 0o600, libc::makedev(5, 0));
    let c = assert_committed(&svc, &m.path("b.mp4"), &bytes);
    let before = lstat_tree(&m.path(""));

    m.unmount();
    m.start();
    assert_eq!(lstat_tree(&m.path("")), before);
    let (a, b) = (
        std::fs::metadata(m.path("d/a.mp4")).unwrap(),
        std::fs::metadata(m.path("b.mp4")).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    assert_eq!(
        std::fs::metadata(m.path("d")).unwrap().nlink(),
        3,
        "d: ., .., sub"
    );
    assert_eq!(
        std::fs::read_link(m.path("link.mp4")).unwrap(),
        Path::new("d/a.mp4")
    );
    let tty = std::fs::symlink_metadata(m.path("d/tty")).unwrap();
    assert_eq!(tty.rdev(), libc::makedev(5, 0));
    assert!(
        std::fs::symlink_metadata(m.path("d/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    for p in ["d/a.mp4", "b.mp4", "link.mp4"] {
        assert_eq!(
            getfattr(&m.path(p), "user.vod.file_id"),
            Some(c.file_id.clone()),
            "{p}"
        );
    }
    // `vodfs status` counts the hard-linked file once, under its first path.
    let status = m.ctl(&["status", "--json"], &[m.path("")]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let files: Vec<&str> = doc[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("/b.mp4"), "{files:?}");
    assert_eq!(doc[0]["summary"]["committed"], 1);
    // Unlinking one name keeps the other and its media.
    std::fs::remove_file(m.path("d/a.mp4")).unwrap();
    assert_eq!(std::fs::metadata(m.path("b.mp4")).unwrap().nlink(), 1);
    assert_committed(&svc, &m.path("b.mp4"), &bytes);
    assert_eq!(svc.media_count(), 1);
}

#[test]
fn hard_linked_file_rewritten_through_one_name_commits_once() {
    rewritten_through_one_name(&[]);
}

#[test]
fn hard_linked_file_rewritten_through_one_name_commits_once_in_write_back_mode() {
    rewritten_through_one_name(&["--write-back=0.1"]);
}

fn rewritten_through_one_name(args: &[&str]) {
    let svc = Service::start();
    let m = Mount::with_args(&svc, args);
    let v1 = random_bytes(350_000, 74);
    let v2 = random_bytes(450_000, 75);
    std::fs::write(m.path("a.mp4"), &v1).unwrap();
    std::fs::hard_link(m.path("a.mp4"), m.path("b.mp4")).unwrap();
    wait(&[&m.path("b.mp4")]);
    let c1 = assert_committed(&svc, &m.path("a.mp4"), &v1);
    assert_eq!(svc.media_count(), 1);

    std::fs::write(m.path("b.mp4"), &v2).unwrap();
    // Both names wait for the same version.
    wait(&[&m.path("a.mp4"), &m.path("b.mp4")]);
    let c2 = assert_committed(&svc, &m.path("b.mp4"), &v2);
    let via_a = assert_committed(&svc, &m.path("a.mp4"), &v2);
    assert_eq!(via_a.file_id, c2.file_id, "both names show the new version");
    assert_ne!(c1.file_id, c2.file_id);
    // The old version stays under by-id; the new one was committed once.
    assert_eq!(
        std::fs::read(m.path("by-id").join(&c1.file_id)).unwrap(),
        v1
    );
    assert_eq!(svc.media_count(), 2, "one media per version, not per name");
    // The upload is named after the first name (a.mp4 sorts first).
    assert_eq!(
        getfattr(&m.path("b.mp4"), "user.vod.name").as_deref(),
        Some("a")
    );
}
