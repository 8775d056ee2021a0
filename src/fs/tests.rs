//! Tests of the filesystem layer without the kernel, with the recording
//! backend.

use std::sync::Arc;
use std::time::Duration;

use super::testing::RecordingBackend;
use super::tree::RenameFlags;
use super::*;
use crate::cache::{BY_ID_INO, Cache, ROOT_INO};

struct Harness {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    fs: Fs,
    backend: Arc<RecordingBackend>,
}

fn harness(write_back: Option<Duration>) -> Harness {
    harness_with(write_back, false)
}

fn harness_with(write_back: Option<Duration>, passthrough_reads: bool) -> Harness {
    harness_in(tempfile::tempdir().unwrap(), write_back, passthrough_reads)
}

/// A harness whose cache is in `dir`.
fn harness_in(
    dir: tempfile::TempDir,
    write_back: Option<Duration>,
    passthrough_reads: bool,
) -> Harness {
    let cache = Cache::open(dir.path(), 1024, 0, 0).unwrap();
    let backend = RecordingBackend::new(cache.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = FsConfig {
        write_back,
        uid: 0,
        gid: 0,
        cache_size: None,
        list_vod_xattrs: true,
        passthrough_reads,
    };
    let fs = Fs::new(
        cache,
        backend.clone(),
        backend.clone(),
        config,
        rt.handle().clone(),
    );
    Harness {
        _dir: dir,
        rt,
        fs,
        backend,
    }
}

impl Harness {
    fn wait<T: Send + 'static>(&self, r: Reply<T>) -> Result<T, FsError> {
        self.rt.block_on(r.wait())
    }

    /// open + write + close, the way `cp` does.
    fn put(&self, parent: u64, name: &[u8], content: &[u8]) -> u64 {
        let (attr, fh) = self.fs.create(parent, name, 0o644, 0, 0, true).unwrap();
        for (i, chunk) in content.chunks(700).enumerate() {
            self.fs.write(fh, (i * 700) as u64, chunk).unwrap();
        }
        self.wait(self.fs.flush(fh, 0)).unwrap();
        self.wait(self.fs.release(fh)).unwrap();
        attr.ino
    }

    /// The bytes of the data file handle `fh` is passed through to.
    fn passed_through(&self, fh: u64, what: &str) -> Vec<u8> {
        use std::io::Read;
        let mut got = Vec::new();
        self.fs
            .passthrough_file(fh)
            .unwrap_or_else(|| panic!("{what} is passed through"))
            .read_to_end(&mut got)
            .unwrap();
        got
    }

    fn read_all(&self, ino: u64) -> Vec<u8> {
        let fh = self.fs.open(ino, false).unwrap();
        let out = self.wait(self.fs.read(fh, 0, 1 << 20)).unwrap();
        self.wait(self.fs.release(fh)).unwrap();
        out
    }
}

#[test]
fn one_commit_per_close_with_the_whole_content() {
    let h = harness(None);
    let content: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let ino = h.put(ROOT_INO, b"a.mp4", &content);
    let commits = h.backend.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].content, content);
    assert_eq!(commits[0].name, b"a.mp4");
    assert!(h.backend.hash_mismatches().is_empty());
    let info =
        h.fs.cache()
            .commit_info(ino, commits[0].version)
            .unwrap()
            .unwrap();
    assert!(info.sha1.is_some(), "sequential write keeps the sha1");
    assert!(info.md5s.iter().all(Option::is_some));
    assert_eq!(h.fs.getxattr(ino, b"user.vod.state").unwrap(), b"committed");
    assert_eq!(
        h.fs.getxattr(ino, b"user.vod.url").unwrap(),
        commits[0].url.as_bytes()
    );
    assert_eq!(h.read_all(ino), content);
    assert_eq!(h.fs.getattr(ino).unwrap().size, 5000);
}

#[test]
fn empty_flush_before_writes_does_not_commit() {
    // `echo x > f`: the shell's first close (after dup2) sees nothing written.
    let h = harness(None);
    let (attr, fh) = h.fs.create(ROOT_INO, b"f", 0o644, 0, 0, true).unwrap();
    h.wait(h.fs.flush(fh, 0)).unwrap();
    h.fs.write(fh, 0, b"x\n").unwrap();
    h.wait(h.fs.flush(fh, 0)).unwrap();
    h.wait(h.fs.release(fh)).unwrap();
    assert_eq!(h.backend.commits().len(), 1);
    assert_eq!(h.read_all(attr.ino), b"x\n");
}

#[test]
fn a_second_writer_defers_the_commit_to_the_last_close() {
    let h = harness(None);
    let (attr, a) = h.fs.create(ROOT_INO, b"f", 0o644, 0, 0, true).unwrap();
    let b = h.fs.open(attr.ino, true).unwrap();
    h.fs.write(a, 0, b"hello ").unwrap();
    h.wait(h.fs.flush(a, 0)).unwrap();
    h.wait(h.fs.release(a)).unwrap();
    assert!(h.backend.commits().is_empty());
    h.fs.write(b, 6, b"world").unwrap();
    h.wait(h.fs.flush(b, 0)).unwrap();
    h.wait(h.fs.release(b)).unwrap();
    let commits = h.backend.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].content, b"hello world");
}

#[test]
fn rewriting_a_committed_file_makes_a_new_version_and_keeps_by_id() {
    let h = harness(None);
    let ino = h.put(ROOT_INO, b"v.mp4", b"first");
    let fh = h.fs.open(ino, true).unwrap();
    h.fs.setattr(
        ino,
        SetAttrReq {
            size: Some(0),
            fh: Some(fh),
            ..Default::default()
        },
    )
    .unwrap();
    h.fs.write(fh, 0, b"second!").unwrap();
    h.wait(h.fs.flush(fh, 0)).unwrap();
    h.wait(h.fs.release(fh)).unwrap();
    let commits = h.backend.commits();
    assert_eq!(commits.len(), 2);
    assert_ne!(commits[0].file_id, commits[1].file_id);
    assert_eq!(commits[1].content, b"second!");
    let listing = h.fs.readdir(BY_ID_INO).unwrap();
    assert_eq!(listing.len(), 4);
    let old =
        h.fs.lookup(BY_ID_INO, commits[0].file_id.as_bytes())
            .unwrap();
    assert_eq!(h.read_all(old.ino), b"first");
    assert_eq!(h.read_all(ino), b"second!");
    assert!(matches!(h.fs.open(old.ino, true), Err(FsError::ReadOnly)));
    assert!(matches!(
        h.fs.unlink(BY_ID_INO, commits[0].file_id.as_bytes()),
        Err(FsError::ReadOnly)
    ));
    assert!(matches!(
        h.fs.rmdir(ROOT_INO, b"by-id"),
        Err(FsError::NotPermitted(_))
    ));
    assert!(matches!(
        h.fs.mkdir(ROOT_INO, b"by-id", 0o755, 0, 0),
        Err(FsError::Exists)
    ));
}

#[test]
fn random_writes_and_truncate_read_back_and_hash_correctly() {
    let h = harness(None);
    let (attr, fh) = h.fs.create(ROOT_INO, b"r", 0o644, 0, 0, true).unwrap();
    h.fs.write(fh, 3000, b"tail").unwrap();
    h.fs.write(fh, 0, b"head").unwrap();
    h.fs.setattr(
        attr.ino,
        SetAttrReq {
            size: Some(2000),
            fh: Some(fh),
            ..Default::default()
        },
    )
    .unwrap();
    h.fs.write(fh, 1500, &[9u8; 1000]).unwrap();
    h.wait(h.fs.flush(fh, 0)).unwrap();
    h.wait(h.fs.release(fh)).unwrap();
    let mut want = vec![0u8; 2500];
    want[..4].copy_from_slice(b"head");
    want[1500..2500].fill(9);
    assert_eq!(h.read_all(attr.ino), want);
    let commits = h.backend.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].content, want);
    assert!(h.backend.hash_mismatches().is_empty());
}

#[test]
fn rsync_temp_file_commits_on_rename_under_its_final_name() {
    let h = harness(None);
    let ino = h.put(ROOT_INO, b".movie.mp4.Ab12Cd", b"data");
    assert!(h.backend.commits().is_empty());
    h.fs.setattr(
        ino,
        SetAttrReq {
            mode: Some(0o600),
            ..Default::default()
        },
    )
    .unwrap();
    h.wait(h.fs.rename(
        ROOT_INO,
        b".movie.mp4.Ab12Cd",
        ROOT_INO,
        b"movie.mp4",
        RenameFlags::default(),
    ))
    .unwrap();
    let commits = h.backend.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].name, b"movie.mp4");
    assert_eq!(h.fs.getattr(ino).unwrap().mode, 0o600);
}

#[test]
fn failed_commit_is_eio_and_visible_in_xattrs() {
    let h = harness(None);
    h.backend.fail_next("service said no");
    let (attr, fh) = h.fs.create(ROOT_INO, b"f", 0o644, 0, 0, true).unwrap();
    h.fs.write(fh, 0, b"abc").unwrap();
    let err = h.wait(h.fs.flush(fh, 0)).unwrap_err();
    assert_eq!(err.errno(), libc::EIO);
    h.wait(h.fs.release(fh)).unwrap();
    assert_eq!(
        h.fs.getxattr(attr.ino, b"user.vod.state").unwrap(),
        b"failed"
    );
    assert_eq!(
        h.fs.getxattr(attr.ino, b"user.vod.error").unwrap(),
        b"service said no"
    );
}

#[test]
fn xattr_namespaces() {
    let h = harness(None);
    let ino = h.put(ROOT_INO, b"f", b"abc");
    assert!(matches!(
        h.fs.getxattr(ino, b"security.capability"),
        Err(FsError::NoData)
    ));
    assert!(matches!(
        h.fs.getxattr(ino, b"system.posix_acl_access"),
        Err(FsError::NoData)
    ));
    h.fs.setxattr(ino, b"user.color", b"blue", 0).unwrap();
    assert_eq!(h.fs.getxattr(ino, b"user.color").unwrap(), b"blue");
    assert!(matches!(
        h.fs.setxattr(ino, b"user.vod.url", b"x", 0),
        Err(FsError::NotPermitted(_))
    ));
    assert!(matches!(
        h.fs.setxattr(ino, b"user.color", b"x", 1),
        Err(FsError::Exists)
    ));
    let names = h.fs.listxattr(ino).unwrap();
    for n in [
        &b"user.vod.state"[..],
        b"user.vod.url",
        b"user.vod.file_id",
        b"user.vod.sha1",
        b"user.color",
    ] {
        assert!(
            names.iter().any(|x| x == n),
            "{}",
            String::from_utf8_lossy(n)
        );
    }
    // rsync -X removes what its source lacks: a no-op for computed names.
    h.fs.removexattr(ino, b"user.vod.state").unwrap();
    assert_eq!(h.fs.getxattr(ino, b"user.vod.state").unwrap(), b"committed");
    h.fs.setxattr(ROOT_INO, b"user.vod.class_id", b"7", 0)
        .unwrap();
    assert_eq!(
        h.fs.cache().dir_settings(ino).unwrap().remove("class_id"),
        Some(b"7".to_vec())
    );
    // An unknown user.vod.* name is refused, not stored.
    assert!(matches!(
        h.fs.setxattr(ROOT_INO, b"user.vod.class", b"x", 0),
        Err(FsError::Invalid(_))
    ));
    assert_eq!(
        h.fs.cache().dir_settings(ino).unwrap().remove("class"),
        None
    );
}

#[test]
fn unlink_of_an_open_file_keeps_it_readable_until_release() {
    let h = harness(None);
    let (attr, fh) = h.fs.create(ROOT_INO, b"f", 0o644, 0, 0, true).unwrap();
    h.fs.write(fh, 0, b"abc").unwrap();
    h.fs.unlink(ROOT_INO, b"f").unwrap();
    assert!(matches!(
        h.fs.lookup(ROOT_INO, b"f"),
        Err(FsError::NotFound)
    ));
    assert_eq!(h.wait(h.fs.read(fh, 0, 10)).unwrap(), b"abc");
    h.wait(h.fs.flush(fh, 0)).unwrap();
    h.wait(h.fs.release(fh)).unwrap();
    assert!(h.backend.commits().is_empty());
    assert!(h.fs.getattr(attr.ino).is_err());
}

#[test]
fn write_back_commits_after_quiet_and_fsync_waits() {
    // A quiet time far longer than the test: only fsync can commit.
    let h = harness(Some(Duration::from_secs(30)));
    let (attr, fh) = h.fs.create(ROOT_INO, b"f", 0o644, 0, 0, true).unwrap();
    h.fs.write(fh, 0, b"abc").unwrap();
    h.wait(h.fs.flush(fh, 0)).unwrap();
    assert!(
        h.backend.commits().is_empty(),
        "close returns before the commit"
    );
    h.wait(h.fs.fsync(fh)).unwrap();
    assert_eq!(h.backend.commits().len(), 1);
    h.wait(h.fs.release(fh)).unwrap();
    assert_eq!(
        h.fs.getxattr(attr.ino, b"user.vod.state").unwrap(),
        b"committed"
    );
}

/// A write-back close does not seal: it persists the size with the closed
/// mark and returns (no /proc scan, no wait for the hashes); the RELEASE
/// of the last reference seals and schedules the commit. A mount stopped
/// between the two commits the file at its next start as it was closed;
/// a file written again after its close (even within its size), or closed
/// under an rsync temp name, shows interrupted instead.
#[test]
fn a_write_back_close_is_sealed_by_its_release_or_by_the_next_start() {
    let h = harness(Some(Duration::from_secs(30)));
    let cache = h.fs.cache().clone();
    let create = |name: &[u8], content: &[u8]| {
        let (attr, fh) = h.fs.create(ROOT_INO, name, 0o644, 0, 0, true).unwrap();
        h.fs.write(fh, 0, content).unwrap();
        h.wait(h.fs.flush(fh, 0)).unwrap();
        (attr.ino, fh)
    };
    let sealed = |ino: u64| {
        let version = cache.get(ino).unwrap().unwrap().version;
        cache.upload(ino, version).unwrap().is_some()
    };
    let (a, fa) = create(b"a.mp4", b"released content");
    assert!(!sealed(a), "the close does not seal");
    assert_eq!(h.fs.getxattr(a, b"user.vod.state").unwrap(), b"staged");
    h.wait(h.fs.release(fa)).unwrap();
    assert!(sealed(a), "the release seals");

    // The mount stops after these closes, before their RELEASE.
    let (b, _fb) = create(b"b.mp4", b"closed before the stop");
    let (c, fc) = create(b"c.mp4", b"closed, then overwritten");
    // The same size: only the cleared mark tells this from b.
    h.fs.write(fc, 0, b"CLOSED").unwrap();
    let (d, _fd) = create(b".d.mp4.AbC123", b"an rsync temp file");
    assert!(!sealed(b) && !sealed(c) && !sealed(d));

    let backend = RecordingBackend::new(cache.clone());
    let config = FsConfig {
        write_back: Some(Duration::ZERO),
        uid: 0,
        gid: 0,
        cache_size: None,
        list_vod_xattrs: true,
        passthrough_reads: false,
    };
    let next = Fs::new(
        cache.clone(),
        backend.clone(),
        backend.clone(),
        config,
        h.rt.handle().clone(),
    );
    assert_eq!(
        next.resume_pending().unwrap(),
        2,
        "a (sealed, not yet committed) and b are scheduled"
    );
    let t0 = std::time::Instant::now();
    while backend.commits().len() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{:?}",
            backend.commits().len()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut committed: Vec<Vec<u8>> = backend.commits().into_iter().map(|c| c.content).collect();
    committed.sort();
    assert_eq!(
        committed,
        [&b"closed before the stop"[..], b"released content"]
    );
    assert_eq!(next.getxattr(b, b"user.vod.state").unwrap(), b"committed");
    assert_eq!(next.getxattr(c, b"user.vod.state").unwrap(), b"interrupted");
    assert_eq!(next.getxattr(d, b"user.vod.state").unwrap(), b"interrupted");
}

#[test]
fn media_whose_bytes_left_the_cache_read_remotely() {
    let h = harness(None);
    let ino = h.put(ROOT_INO, b"f", b"remote bytes");
    let c = &h.backend.commits()[0];
    std::fs::remove_file(h.fs.cache().data_path(ino, c.version)).unwrap();
    let m = h.fs.lookup(BY_ID_INO, c.file_id.as_bytes()).unwrap();
    let fh = h.fs.open(m.ino, false).unwrap();
    assert_eq!(h.wait(h.fs.read(fh, 7, 100)).unwrap(), b"bytes");
}

#[test]
fn unlink_of_a_file_waiting_to_upload_cancels_it() {
    // Long enough that the unlink always comes first, even on a busy CI.
    let h = harness(Some(Duration::from_millis(1500)));
    let ino = h.put(ROOT_INO, b"f", b"abc");
    assert!(h.backend.commits().is_empty());
    h.fs.unlink(ROOT_INO, b"f").unwrap();
    assert_eq!(h.backend.cancels(), vec![ino]);
    std::thread::sleep(Duration::from_millis(2000));
    assert!(
        h.backend.commits().is_empty(),
        "a cancelled upload never commits"
    );
}

#[test]
fn unlink_of_a_committed_file_keeps_its_media() {
    let h = harness(None);
    h.put(ROOT_INO, b"f", b"abc");
    h.fs.unlink(ROOT_INO, b"f").unwrap();
    assert!(h.backend.cancels().is_empty());
    let c = &h.backend.commits()[0];
    let m = h.fs.lookup(BY_ID_INO, c.file_id.as_bytes()).unwrap();
    assert_eq!(h.read_all(m.ino), b"abc");
    assert_eq!(
        h.fs.getxattr(m.ino, b"user.vod.url").unwrap(),
        c.url.as_bytes()
    );
}

#[test]
fn evicted_content_reads_from_its_url_and_is_restored_before_an_append() {
    let h = harness(None);
    let ino = h.put(ROOT_INO, b"f", b"remote bytes");
    let version = h.backend.commits()[0].version;
    assert_eq!(h.fs.getxattr(ino, b"user.vod.cached").unwrap(), b"1");
    h.fs.cache().evict_clean(u64::MAX).unwrap();
    assert_eq!(h.fs.getxattr(ino, b"user.vod.cached").unwrap(), b"0");
    // Reads come from the URL; the data file is never created empty.
    assert_eq!(h.read_all(ino), b"remote bytes");
    let fh = h.fs.open(ino, false).unwrap();
    assert_eq!(h.wait(h.fs.read(fh, 7, 100)).unwrap(), b"bytes");
    h.wait(h.fs.fsync(fh)).unwrap();
    h.wait(h.fs.release(fh)).unwrap();
    assert!(!h.fs.cache().data_path(ino, version).exists());
    assert_eq!(h.fs.getxattr(ino, b"user.vod.cached").unwrap(), b"0");
    // An append keeps the old bytes: they are fetched back first.
    let fh = h.fs.open(ino, true).unwrap();
    h.fs.write(fh, 12, b"!").unwrap();
    h.wait(h.fs.flush(fh, 0)).unwrap();
    h.wait(h.fs.release(fh)).unwrap();
    assert_eq!(h.read_all(ino), b"remote bytes!");
    assert_eq!(h.backend.commits().len(), 2);
}

#[test]
fn a_hard_link_keeps_the_upload_when_another_name_goes() {
    let h = harness(Some(Duration::from_millis(300)));
    let ino = h.put(ROOT_INO, b"a.mp4", b"linked bytes");
    let b = h.fs.link(ino, ROOT_INO, b"b.mp4").unwrap();
    assert_eq!((b.ino, b.nlink), (ino, 2));
    h.fs.unlink(ROOT_INO, b"a.mp4").unwrap();
    assert!(h.backend.cancels().is_empty(), "b.mp4 still names it");
    for _ in 0..500 {
        if !h.backend.commits().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let commits = h.backend.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].name, b"b.mp4", "named after the name left");
    assert_eq!(h.fs.getattr(ino).unwrap().nlink, 1);
    assert_eq!(h.fs.getxattr(ino, b"user.vod.state").unwrap(), b"committed");
}

#[test]
fn symlinks_and_special_files_have_no_vod_state_and_take_no_user_xattrs() {
    let h = harness(None);
    let s = h.fs.symlink(ROOT_INO, b"l", b"f.mp4", 0, 0).unwrap();
    assert_eq!((s.kind, s.size, s.mode), (Kind::Symlink, 5, 0o777));
    assert_eq!(h.fs.readlink(s.ino).unwrap(), b"f.mp4");
    let long = vec![b'a'; 4096];
    assert_eq!(
        h.fs.symlink(ROOT_INO, b"m", &long, 0, 0)
            .unwrap_err()
            .errno(),
        libc::ENAMETOOLONG
    );
    let fifo =
        h.fs.mknod(ROOT_INO, b"p", libc::S_IFIFO | 0o600, 9, 0, 0)
            .unwrap();
    assert_eq!(
        (fifo.kind, fifo.rdev),
        (Kind::Fifo, 0),
        "rdev only for devices"
    );
    let dev = (libc::S_IFBLK | 0o600, 0x700);
    let blk = h.fs.mknod(ROOT_INO, b"b", dev.0, dev.1, 0, 0).unwrap();
    assert_eq!((blk.kind, blk.rdev), (Kind::BlockDevice, 0x700));
    for ino in [s.ino, fifo.ino, blk.ino] {
        assert_eq!(
            h.fs.getxattr(ino, b"user.vod.state").unwrap_err().errno(),
            libc::ENODATA
        );
        assert_eq!(
            h.fs.setxattr(ino, b"user.x", b"1", 0).unwrap_err().errno(),
            libc::EPERM
        );
        assert!(h.fs.listxattr(ino).unwrap().is_empty());
        assert_eq!(
            h.fs.setxattr(ino, b"user.vod.retry", b"1", 0)
                .unwrap_err()
                .errno(),
            libc::EPERM
        );
        assert!(h.fs.open(ino, false).is_err());
    }
    assert_eq!(
        h.fs.link(BY_ID_INO, ROOT_INO, b"x").unwrap_err().errno(),
        libc::EPERM
    );
    assert!(h.backend.commits().is_empty());
}

#[test]
fn an_rsync_temp_file_commits_when_linked_to_a_final_name() {
    let h = harness(None);
    let ino = h.put(ROOT_INO, b".v.mp4.Ab12Cd", b"temp bytes");
    assert!(h.backend.commits().is_empty(), "a temp name waits");
    h.fs.link(ino, ROOT_INO, b"v.mp4").unwrap();
    h.fs.unlink(ROOT_INO, b".v.mp4.Ab12Cd").unwrap();
    for _ in 0..500 {
        if !h.backend.commits().is_empty() {
            break;
        }
        // The commit runs on the (current-thread) runtime: drive it.
        h.rt.block_on(async { tokio::time::sleep(Duration::from_millis(10)).await });
    }
    let commits = h.backend.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].content, b"temp bytes");
    // A file with a final name and a temp-looking link commits at close.
    let ino = h.put(ROOT_INO, b"w.mp4", b"first");
    h.fs.link(ino, ROOT_INO, b".w.mp4.Zz99Yy").unwrap();
    let fh = h.fs.open(ino, true).unwrap();
    h.fs.write(fh, 5, b" and more").unwrap();
    h.wait(h.fs.flush(fh, 0)).unwrap();
    h.wait(h.fs.release(fh)).unwrap();
    let commits = h.backend.commits();
    assert_eq!(commits.len(), 3, "first, then first and more");
    assert_eq!(commits[2].content, b"first and more");
}

/// `--passthrough-reads`: a read of sealed content with no writer is
/// passed through (the data file holds exactly the content); while it is
/// open the content cannot change (ETXTBSY for a write open and a
/// truncate); a reader beside an open writer, or of content not yet
/// sealed, is served by the mount; a handle the kernel did not take counts
/// for nothing.
#[test]
fn passed_through_readers_hold_the_content_until_released() {
    let h = harness_with(None, true);
    let ino = h.put(ROOT_INO, b"a.mp4", b"first content");
    let r = h.fs.open(ino, false).unwrap();
    assert_eq!(
        h.passed_through(r, "a sealed file with no writer"),
        b"first content"
    );
    let busy = h.fs.open(ino, true).map(|_| ()).unwrap_err();
    assert!(
        matches!(busy, FsError::PassedThrough(ref f) if f == "/a.mp4"),
        "{busy}"
    );
    assert_eq!(busy.errno(), libc::ETXTBSY);
    let truncate = SetAttrReq {
        size: Some(3),
        ..Default::default()
    };
    let busy = h.fs.setattr(ino, truncate.clone()).unwrap_err();
    assert_eq!(busy.errno(), libc::ETXTBSY);
    // Attributes other than the size may change.
    let chmod = SetAttrReq {
        mode: Some(0o600),
        ..Default::default()
    };
    assert_eq!(h.fs.setattr(ino, chmod).unwrap().mode & 0o777, 0o600);
    h.wait(h.fs.release(r)).unwrap();

    // Released: the write goes ahead; a reader beside it is not passed through.
    let w = h.fs.open(ino, true).unwrap();
    h.fs.write(w, 0, b"second").unwrap();
    let r = h.fs.open(ino, false).unwrap();
    assert!(
        h.fs.passthrough_file(r).is_none(),
        "a reader beside a writer"
    );
    assert_eq!(h.wait(h.fs.read(r, 0, 100)).unwrap(), b"secondcontent");
    h.wait(h.fs.release(r)).unwrap();
    h.wait(h.fs.flush(w, 0)).unwrap();
    h.wait(h.fs.release(w)).unwrap();
    assert_eq!(h.backend.commits().len(), 2);

    // A handle the kernel refused holds nothing back.
    let r = h.fs.open(ino, false).unwrap();
    assert!(h.fs.passthrough_file(r).is_some());
    h.fs.passthrough_refused(r);
    h.fs.setattr(ino, truncate)
        .expect("truncate once the reader was refused");
    // A truncate with no writer open is sealed at once: the next reader is
    // passed through to the new version.
    let r2 = h.fs.open(ino, false).unwrap();
    assert_eq!(h.passed_through(r2, "the truncated content"), b"sec");
    h.wait(h.fs.release(r2)).unwrap();
    h.wait(h.fs.release(r)).unwrap();
    assert_eq!(h.backend.commits().last().unwrap().content, b"sec");
}

/// Without `--passthrough-reads` no file of the tree is passed through.
#[test]
fn tree_files_are_not_passed_through_by_default() {
    let h = harness(None);
    let ino = h.put(ROOT_INO, b"a.mp4", b"content");
    let r = h.fs.open(ino, false).unwrap();
    assert!(h.fs.passthrough_file(r).is_none());
    let w = h.fs.open(ino, true).expect("a write beside a reader");
    h.wait(h.fs.release(w)).unwrap();
    h.wait(h.fs.release(r)).unwrap();
}

/// An evicted file read sequentially: windows of 1, 2, 4, 8 MiB from its
/// URL, each asked once; once the reader is in the second half of a window
/// the next two are on their way, so two fetches overlap.
#[test]
fn evicted_sequential_reads_keep_two_windows_on_their_way() {
    const MIB: u64 = 1 << 20;
    let h = harness(None);
    let content: Vec<u8> = (0..(12 * MIB) as u32).map(|i| (i % 253) as u8).collect();
    let (attr, fh) = h.fs.create(ROOT_INO, b"big", 0o644, 0, 0, true).unwrap();
    h.fs.write(fh, 0, &content).unwrap();
    h.wait(h.fs.flush(fh, 0)).unwrap();
    h.wait(h.fs.release(fh)).unwrap();
    h.fs.cache().evict_clean(u64::MAX).unwrap();
    let fh = h.fs.open(attr.ino, false).unwrap();
    let step = 128 << 10;
    let mut got = Vec::new();
    while (got.len() as u64) < MIB / 2 + step as u64 {
        got.extend(h.wait(h.fs.read(fh, got.len() as u64, step)).unwrap());
    }
    let mib = MIB as u32;
    assert_eq!(
        h.backend.remote_reads(),
        vec![(0, mib), (MIB, 2 * mib), (3 * MIB, 4 * mib)],
        "in the first window's second half, the next two are asked"
    );
    while (got.len() as u64) < 12 * MIB {
        got.extend(h.wait(h.fs.read(fh, got.len() as u64, step)).unwrap());
    }
    assert!(got == content, "byte-exact");
    assert_eq!(
        h.backend.remote_reads(),
        vec![
            (0, mib),
            (MIB, 2 * mib),
            (3 * MIB, 4 * mib),
            (7 * MIB, 5 * mib)
        ],
        "each window asked once"
    );
    h.wait(h.fs.release(fh)).unwrap();
}

/// The O_DIRECT twin of a data file is opened by the first write with an
/// aligned middle, never for a file written in small or unaligned pieces.
#[test]
fn the_direct_twin_is_opened_only_for_a_write_with_an_aligned_middle() {
    // In a directory that takes O_DIRECT (where /tmp may not).
    let h = harness_in(crate::direct_io::test_dir(), None, false);
    let (attr, fh) =
        h.fs.create(ROOT_INO, b"small.mp4", 0o644, 0, 0, true)
            .unwrap();
    let twin = || h.fs.live(attr.ino).unwrap().lock().direct.clone();
    for i in 0..40u64 {
        h.fs.write(fh, i * 100, &[b'a'; 100]).unwrap();
    }
    // 4 KiB but across a page boundary: no aligned middle either.
    h.fs.write(fh, 4000, &[b'b'; 4096]).unwrap();
    assert!(twin().is_none(), "no write had an aligned middle");
    h.fs.write(fh, 8192, &[b'c'; 8192]).unwrap();
    assert!(
        twin().is_some(),
        "an aligned middle opens (or tries) the twin"
    );
    // Opened, and the aligned write went through it (a refused direct write
    // forgets the twin: `Some(None)`).
    assert!(
        twin().is_some_and(|t| t.is_some()),
        "the aligned middle did not go direct"
    );
    let mut expect = vec![b'a'; 4000];
    expect.extend([b'b'; 4096]);
    expect.extend(vec![0u8; 8192 - expect.len()]);
    expect.extend([b'c'; 8192]);
    assert_eq!(h.wait(h.fs.read(fh, 0, 1 << 20)).unwrap(), expect);
}
