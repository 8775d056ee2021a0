//! Unit tests of the staging store.

use std::os::unix::fs::FileExt;

use md5::{Digest, Md5};
use sha1::Sha1;
use std::path::Path;

use super::links::MAX_LINKS;
use super::*;

fn open(dir: &Path) -> Cache {
    Cache::open(dir, 1024, 0, 0).unwrap()
}

fn write_version(cache: &Cache, ino: u64, version: u64, content: &[u8]) -> Hashes {
    let f = cache.open_data(ino, version).unwrap();
    let mut h = ContentHasher::new(cache.part_size());
    for (i, chunk) in content.chunks(300).enumerate() {
        f.write_all_at(chunk, (i * 300) as u64).unwrap();
        h.write((i * 300) as u64, chunk);
    }
    h.finish(content.len() as u64)
}

#[test]
fn tree_operations_and_persistence_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let name = b"caf\xe9.mp4".to_vec(); // not UTF-8
    let (d, f) = {
        let c = open(dir.path());
        let d = c
            .create_node(ROOT_INO, b"dir", Kind::Dir, 0o755, 1, 2)
            .unwrap();
        let f = c
            .create_node(d.ino, &name, Kind::File, 0o644, 1, 2)
            .unwrap();
        assert!(matches!(
            c.create_node(d.ino, &name, Kind::File, 0o644, 1, 2),
            Err(CacheError::Exists)
        ));
        c.set_xattr(f.ino, b"user.a", b"1", false, false).unwrap();
        assert!(matches!(
            c.rmdir(ROOT_INO, b"dir"),
            Err(CacheError::NotEmpty)
        ));
        (d, f)
    };
    let c = open(dir.path());
    assert_eq!(c.lookup(d.ino, &name).unwrap().map(|r| r.ino), Some(f.ino));
    assert_eq!(c.get_xattr(f.ino, b"user.a").unwrap(), Some(b"1".to_vec()));
    let out = c.rename(d.ino, &name, ROOT_INO, b"moved").unwrap();
    assert_eq!(
        out,
        RenameOutcome {
            ino: f.ino,
            replaced: None
        }
    );
    let names: Vec<Vec<u8>> = c
        .readdir(ROOT_INO)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, vec![b"dir".to_vec(), b"moved".to_vec()]);
    c.rmdir(ROOT_INO, b"dir").unwrap();
    assert!(matches!(
        c.rename(ROOT_INO, b"nope", ROOT_INO, b"x"),
        Err(CacheError::NotFound)
    ));
}

#[test]
fn rename_over_a_file_unlinks_it_and_refuses_dir_into_itself() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let a = c
        .create_node(ROOT_INO, b"a", Kind::File, 0o644, 0, 0)
        .unwrap();
    let b = c
        .create_node(ROOT_INO, b"b", Kind::File, 0o644, 0, 0)
        .unwrap();
    let out = c.rename(ROOT_INO, b"a", ROOT_INO, b"b").unwrap();
    assert_eq!(out.replaced, Some(b.ino));
    assert_eq!(c.get(b.ino).unwrap().unwrap().nlink, 0);
    assert_eq!(c.lookup(ROOT_INO, b"b").unwrap().unwrap().ino, a.ino);
    let d = c
        .create_node(ROOT_INO, b"d", Kind::Dir, 0o755, 0, 0)
        .unwrap();
    c.create_node(d.ino, b"e", Kind::Dir, 0o755, 0, 0).unwrap();
    assert!(matches!(
        c.rename(ROOT_INO, b"d", d.ino, b"x"),
        Err(CacheError::Invalid(_))
    ));
    assert!(matches!(
        c.rename(ROOT_INO, b"b", ROOT_INO, b"d"),
        Err(CacheError::IsDir)
    ));
}

#[test]
fn seal_commit_info_and_read_at() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let f = c
        .create_node(ROOT_INO, b"v.mp4", Kind::File, 0o644, 0, 0)
        .unwrap();
    let content: Vec<u8> = (0..2500u32).map(|i| (i * 7) as u8).collect();
    let hashes = write_version(&c, f.ino, f.version, &content);
    c.seal(f.ino, f.version, content.len() as u64, &hashes)
        .unwrap();
    let info = c.commit_info(f.ino, f.version).unwrap().unwrap();
    assert_eq!(info.name, b"v.mp4");
    assert_eq!(info.parent, ROOT_INO);
    assert_eq!(info.size, 2500);
    assert_eq!(info.part_size, 1024);
    assert_eq!(info.sha1, Some(Sha1::digest(&content).into()));
    let want: Vec<Option<[u8; 16]>> = content
        .chunks(1024)
        .map(|c| Some(Md5::digest(c).into()))
        .collect();
    assert_eq!(info.md5s, want);
    assert_eq!(
        c.read_at(f.ino, f.version, 1000, 100).unwrap(),
        content[1000..1100]
    );
    assert_eq!(
        c.read_at(f.ino, f.version, 2400, 1000).unwrap(),
        content[2400..]
    );
    assert_eq!(c.pending_uploads().unwrap(), vec![(f.ino, f.version)]);
    assert_eq!(c.get(f.ino).unwrap().unwrap().size, 2500);
}

#[test]
fn a_version_is_verified_once_its_data_is_synced_and_only_then_lends_its_md5s() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let f = c
        .create_node(ROOT_INO, b"v.mp4", Kind::File, 0o644, 0, 0)
        .unwrap();
    let content = vec![9u8; 2500];
    let h = write_version(&c, f.ino, 1, &content);
    // A synced seal is verified at once.
    c.seal(f.ino, 1, 2500, &h).unwrap();
    assert!(c.commit_info(f.ino, 1).unwrap().unwrap().verified);
    // A write-back seal is not, until its sync; a commit in the same boot
    // syncs it first, also after the mount was killed (a new Cache).
    let (v2, md5s) = c.new_version(f.ino, true).unwrap();
    assert_eq!(md5s, h.md5s, "a verified version lends its MD5s");
    c.seal_with(f.ino, v2, 2500, &h, false).unwrap();
    c.close();
    drop(c);
    let c = open(dir.path());
    assert!(c.commit_info(f.ino, v2).unwrap().unwrap().verified);
    // Sealed before a restart of the machine and never synced: its hashes
    // are kept but not trusted, and lend nothing to the next version.
    let (v3, _) = c.new_version(f.ino, true).unwrap();
    c.seal_with(f.ino, v3, 2500, &h, false).unwrap();
    c.db()
        .write(true, move |db| {
            db.execute(
                "UPDATE versions SET sealed_boot = 'a boot before a restart' WHERE version = ?1",
                [v3 as i64],
            )?;
            Ok(())
        })
        .unwrap();
    let info = c.commit_info(f.ino, v3).unwrap().unwrap();
    assert!(!info.verified);
    assert_eq!(info.md5s, h.md5s, "the hashes are kept, only not trusted");
    let (v4, md5s) = c.new_version(f.ino, true).unwrap();
    assert_eq!(md5s, Vec::<Option<[u8; 16]>>::new());
    // Syncing a version dropped meanwhile creates no data file.
    c.sync_data(f.ino, v4 + 7).unwrap();
    assert!(!c.data_path(f.ino, v4 + 7).exists());
}

#[test]
fn committed_media_survive_a_new_version_and_unlink() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let f = c
        .create_node(ROOT_INO, b"v.mp4", Kind::File, 0o644, 0, 0)
        .unwrap();
    let h = write_version(&c, f.ino, 1, b"first");
    c.seal(f.ino, 1, 5, &h).unwrap();
    c.save_progress(f.ino, 1, None, Some(b"tok".to_vec()))
        .unwrap();
    assert_eq!(
        c.load_resume_token(f.ino, 1).unwrap(),
        Some(b"tok".to_vec())
    );
    let status = UploadStatus {
        state: UploadState::Uploading,
        parts_done: 0,
        parts_total: 1,
        bytes_done: 0,
        bytes_total: 5,
        error: None,
        waiting: None,
    };
    c.set_upload_status(f.ino, 1, &status).unwrap();
    assert_eq!(c.upload(f.ino, 1).unwrap().unwrap().status, status);
    let committed = Committed {
        file_id: "5285890780".into(),
        url: "http://x/v.mp4".into(),
        sha1: "ab".into(),
        service_name: "v".into(),
        cover_url: None,
    };
    let media = c.mark_committed(f.ino, 1, &committed).unwrap();
    assert_eq!(media.size, 5);
    assert!(c.pending_uploads().unwrap().is_empty());
    let (v2, md5s) = c.new_version(f.ino, true).unwrap();
    assert_eq!(v2, 2);
    assert_eq!(md5s, vec![Some(Md5::digest(b"first").into())]);
    assert_eq!(c.read_at(f.ino, 2, 0, 10).unwrap(), b"first");
    c.unlink(ROOT_INO, b"v.mp4").unwrap();
    c.forget(f.ino).unwrap();
    assert!(c.get(f.ino).unwrap().is_none());
    assert!(!c.data_path(f.ino, 2).exists());
    let m = c.media_by_file_id("5285890780").unwrap().unwrap();
    assert_eq!(c.read_at(m.ino, m.version, 0, 10).unwrap(), b"first");
}

#[test]
fn an_uncommitted_version_is_dropped_when_superseded() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let f = c
        .create_node(ROOT_INO, b"v", Kind::File, 0o644, 0, 0)
        .unwrap();
    let h = write_version(&c, f.ino, 1, b"abc");
    c.seal(f.ino, 1, 3, &h).unwrap();
    let (v2, _) = c.new_version(f.ino, false).unwrap();
    assert!(c.commit_info(f.ino, 1).unwrap().is_none());
    assert!(!c.data_path(f.ino, 1).exists());
    assert!(c.pending_uploads().unwrap().is_empty());
    assert_eq!(c.read_at(f.ino, v2, 0, 10).unwrap(), b"");
}

#[test]
fn dir_settings_finds_each_from_the_nearest_ancestor() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let a = c
        .create_node(ROOT_INO, b"a", Kind::Dir, 0o755, 0, 0)
        .unwrap();
    let b = c.create_node(a.ino, b"b", Kind::Dir, 0o755, 0, 0).unwrap();
    let f = c.create_node(b.ino, b"f", Kind::File, 0o644, 0, 0).unwrap();
    assert_eq!(c.dir_settings(f.ino).unwrap().remove("class"), None);
    c.set_xattr(ROOT_INO, b"user.vod.class", b"root", false, false)
        .unwrap();
    c.set_xattr(a.ino, b"user.vod.class", b"a", false, false)
        .unwrap();
    assert_eq!(
        c.dir_settings(f.ino).unwrap().remove("class"),
        Some(b"a".to_vec())
    );
    c.set_xattr(b.ino, b"user.vod.class", b"b", false, false)
        .unwrap();
    assert_eq!(
        c.dir_settings(f.ino).unwrap().remove("class"),
        Some(b"b".to_vec())
    );
    assert_eq!(
        c.dir_settings(ROOT_INO).unwrap().remove("class"),
        Some(b"root".to_vec())
    );
    // All of them in one walk: each from its nearest directory; other
    // names (and the file's own xattrs) are not settings of the file.
    c.set_xattr(ROOT_INO, b"user.vod.tags", b"t", false, false)
        .unwrap();
    c.set_xattr(a.ino, b"user.other", b"o", false, false)
        .unwrap();
    c.set_xattr(f.ino, b"user.vod.class", b"f", false, false)
        .unwrap();
    let all = c.dir_settings(f.ino).unwrap();
    assert_eq!(
        all,
        std::collections::HashMap::from([
            ("class".to_string(), b"b".to_vec()),
            ("tags".to_string(), b"t".to_vec()),
        ])
    );
}

#[test]
fn paths_in_the_tree_are_shown_measured_and_followed() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let a = c
        .create_node(ROOT_INO, b"a", Kind::Dir, 0o755, 0, 0)
        .unwrap();
    let b = c.create_node(a.ino, b"b", Kind::Dir, 0o755, 0, 0).unwrap();
    let f = c
        .create_node(b.ino, b"f\xff.mp4", Kind::File, 0o644, 0, 0)
        .unwrap();
    assert_eq!(c.display_path(f.ino), "/a/b/f\u{fffd}.mp4");
    assert_eq!(c.display_path(ROOT_INO), "");
    assert_eq!(c.display_path(9999), "(inode 9999)");
    assert_eq!(
        (c.depth(ROOT_INO).unwrap(), c.depth(b.ino).unwrap()),
        (0, 2)
    );
    let follow = |from: u64, p: &[u8]| c.resolve_relative(from, p).unwrap();
    assert_eq!(follow(b.ino, b"f\xff.mp4"), Some(f.ino));
    assert_eq!(follow(a.ino, b"./b//f\xff.mp4"), Some(f.ino));
    assert_eq!(
        follow(b.ino, b"../../.."),
        Some(ROOT_INO),
        "root's .. is root"
    );
    assert_eq!(follow(ROOT_INO, b"a/../a/b"), Some(b.ino));
    assert_eq!(follow(b.ino, b"missing.jpg"), None);
}

#[test]
fn concurrent_writers_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    c.create_node(
                        ROOT_INO,
                        format!("f{t}-{i}").as_bytes(),
                        Kind::File,
                        0o644,
                        0,
                        0,
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(c.readdir(ROOT_INO).unwrap().len(), 200);
}

#[test]
fn files_unlinked_while_open_are_gone_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ino = {
        let c = open(dir.path());
        let f = c
            .create_node(ROOT_INO, b"f", Kind::File, 0o644, 0, 0)
            .unwrap();
        write_version(&c, f.ino, 1, b"bytes");
        c.unlink(ROOT_INO, b"f").unwrap();
        f.ino
    };
    let c = open(dir.path());
    assert!(c.get(ino).unwrap().is_none());
    assert!(!c.data_path(ino, 1).exists());
}

#[test]
fn inode_numbers_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let a = c
        .create_node(ROOT_INO, b"a", Kind::File, 0o644, 0, 0)
        .unwrap();
    c.unlink(ROOT_INO, b"a").unwrap();
    c.forget(a.ino).unwrap();
    let b = c
        .create_node(ROOT_INO, b"b", Kind::File, 0o644, 0, 0)
        .unwrap();
    assert!(b.ino > a.ino);
}

#[test]
fn part_md5s_do_not_carry_over_to_another_part_size() {
    let dir = tempfile::tempdir().unwrap();
    let ino = {
        let c = open(dir.path());
        let f = c
            .create_node(ROOT_INO, b"f", Kind::File, 0o644, 0, 0)
            .unwrap();
        let h = write_version(&c, f.ino, 1, &[5u8; 3000]);
        c.seal(f.ino, 1, 3000, &h).unwrap();
        let (_, md5s) = c.new_version(f.ino, true).unwrap();
        assert_eq!(md5s.len(), 3, "same part size: known MD5s carry over");
        f.ino
    };
    let c = Cache::open(dir.path(), 512, 0, 0).unwrap();
    let h = write_version(&c, ino, 2, &[5u8; 3000]);
    c.seal(ino, 2, 3000, &h).unwrap();
    let c = Cache::open(dir.path(), 2048, 0, 0).unwrap();
    let (_, md5s) = c.new_version(ino, true).unwrap();
    assert!(md5s.is_empty());
}

#[test]
fn hard_links_share_the_inode_until_the_last_name_goes() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let d = c
        .create_node(ROOT_INO, b"d", Kind::Dir, 0o755, 0, 0)
        .unwrap();
    let f = c
        .create_node(d.ino, b"b.mp4", Kind::File, 0o644, 0, 0)
        .unwrap();
    assert_eq!(c.link(f.ino, ROOT_INO, b"a.mp4").unwrap().nlink, 2);
    assert!(matches!(
        c.link(f.ino, ROOT_INO, b"a.mp4"),
        Err(CacheError::Exists)
    ));
    assert!(matches!(
        c.link(d.ino, ROOT_INO, b"d2"),
        Err(CacheError::NotPermitted(_))
    ));
    // The upload's name: the first by (directory inode, name).
    let names = c.names_of(f.ino).unwrap();
    assert_eq!(
        names,
        vec![(ROOT_INO, b"a.mp4".to_vec()), (d.ino, b"b.mp4".to_vec())]
    );
    // Renaming onto another name of the same inode changes nothing.
    let out = c.rename(ROOT_INO, b"a.mp4", d.ino, b"b.mp4").unwrap();
    assert_eq!(out.replaced, None);
    assert_eq!(c.names_of(f.ino).unwrap().len(), 2);

    c.unlink(d.ino, b"b.mp4").unwrap();
    assert_eq!(c.get(f.ino).unwrap().unwrap().nlink, 1);
    c.forget(f.ino).unwrap();
    assert!(c.get(f.ino).unwrap().is_some(), "a name is left");
    c.unlink(ROOT_INO, b"a.mp4").unwrap();
    assert_eq!(c.get(f.ino).unwrap().unwrap().nlink, 0);
    assert!(matches!(
        c.link(f.ino, ROOT_INO, b"back"),
        Err(CacheError::NotFound)
    ));
    c.forget(f.ino).unwrap();
    assert!(c.get(f.ino).unwrap().is_none());
}

#[test]
fn a_file_takes_at_most_ext4s_link_count() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let f = c
        .create_node(ROOT_INO, b"v.mp4", Kind::File, 0o644, 0, 0)
        .unwrap();
    for n in 1..MAX_LINKS {
        c.link(f.ino, ROOT_INO, format!("l{n}").as_bytes()).unwrap();
    }
    assert_eq!(c.get(f.ino).unwrap().unwrap().nlink, MAX_LINKS);
    assert!(matches!(
        c.link(f.ino, ROOT_INO, b"one-more"),
        Err(CacheError::TooManyLinks)
    ));
    c.unlink(ROOT_INO, b"l1").unwrap();
    c.link(f.ino, ROOT_INO, b"one-more").unwrap();
}

#[test]
fn symlinks_and_special_files_persist_and_directory_links_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (s, dev, a, b) = {
        let c = open(dir.path());
        let a = c
            .create_node(ROOT_INO, b"a", Kind::Dir, 0o755, 0, 0)
            .unwrap();
        let b = c
            .create_node(ROOT_INO, b"b", Kind::Dir, 0o755, 0, 0)
            .unwrap();
        let x = c.create_node(a.ino, b"x", Kind::Dir, 0o755, 0, 0).unwrap();
        assert_eq!(c.get(a.ino).unwrap().unwrap().nlink, 3);
        c.rename(a.ino, b"x", b.ino, b"x").unwrap();
        assert_eq!(c.get(a.ino).unwrap().unwrap().nlink, 2);
        assert_eq!(c.get(b.ino).unwrap().unwrap().nlink, 3);
        assert_eq!(c.get(x.ino).unwrap().unwrap().nlink, 2);
        let node = |kind, rdev, target: Option<&[u8]>| NewNode {
            kind,
            mode: 0o640,
            uid: 7,
            gid: 8,
            rdev,
            target: target.map(<[u8]>::to_vec),
        };
        let s = c
            .create(ROOT_INO, b"l", node(Kind::Symlink, 0, Some(b"../t\xff")))
            .unwrap();
        assert_eq!(s.size, 5);
        let dev = c
            .create(b.ino, b"null", node(Kind::CharDevice, 0x103, None))
            .unwrap();
        assert!(matches!(c.readlink(dev.ino), Err(CacheError::Invalid(_))));
        (s.ino, dev.ino, a.ino, b.ino)
    };
    let c = open(dir.path());
    assert_eq!(c.readlink(s).unwrap(), b"../t\xff");
    let dev = c.get(dev).unwrap().unwrap();
    assert_eq!((dev.kind, dev.rdev, dev.uid), (Kind::CharDevice, 0x103, 7));
    assert_eq!(c.get(ROOT_INO).unwrap().unwrap().nlink, 4, "a and b");
    assert_eq!(c.get(a).unwrap().unwrap().nlink, 2);
    c.rmdir(b, b"x").unwrap();
    assert_eq!(c.get(b).unwrap().unwrap().nlink, 2);
    // A symlink's last name removes it at once (nothing can hold it open).
    c.unlink(ROOT_INO, b"l").unwrap();
    c.forget(s).unwrap();
    assert!(c.get(s).unwrap().is_none());
}

#[test]
fn a_cache_of_the_first_schema_gets_its_directory_link_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    {
        let options = crate::sqlite::Options {
            read_only: false,
            synchronous: crate::sqlite::Synchronous::Normal,
            busy_timeout: std::time::Duration::from_secs(1),
        };
        let conn = crate::sqlite::open(&path, &options, &super::schema::MIGRATIONS[..1]).unwrap();
        // Root, a/ with two subdirectories and a file: all with nlink 2.
        conn.execute_batch(
            "INSERT INTO inodes (ino, kind, mode, uid, gid, atime_ns, mtime_ns, ctime_ns, crtime_ns, nlink)
             VALUES (1, 2, 493, 0, 0, 0, 0, 0, 0, 2), (2, 2, 365, 0, 0, 0, 0, 0, 0, 2),
                    (3, 2, 493, 0, 0, 0, 0, 0, 0, 2), (4, 2, 493, 0, 0, 0, 0, 0, 0, 2),
                    (5, 2, 493, 0, 0, 0, 0, 0, 0, 2), (6, 1, 420, 0, 0, 0, 0, 0, 0, 1);
             INSERT INTO dentries (parent, name, ino) VALUES
                    (1, 'a', 3), (3, 'x', 4), (3, 'y', 5), (3, 'f', 6);",
        )
        .unwrap();
    }
    let c = open(dir.path());
    let nlink = |ino| c.get(ino).unwrap().unwrap().nlink;
    assert_eq!((nlink(1), nlink(3), nlink(4), nlink(6)), (3, 4, 2, 1));
    assert_eq!(c.get(6).unwrap().unwrap().rdev, 0);
}
