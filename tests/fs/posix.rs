//! Symlinks, hard links and special files, operation by operation, against
//! a plain directory under /tmp (ext4 here): every refused operation gives
//! the errno the local filesystem gives, and what succeeds leaves the same
//! types, targets and link counts. What the plain directory cannot show
//! (a `nodev` mount, by-id, the file size limit) is checked on its own.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::TestMount;

fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn last_errno(r: libc::c_int) -> Result<(), i32> {
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap())
    } else {
        Ok(())
    }
}

fn io(r: std::io::Result<impl Sized>) -> Result<(), i32> {
    r.map(|_| ()).map_err(|e| e.raw_os_error().unwrap_or(-1))
}

/// Sets up under `root` what every case starts from.
fn prepare(root: &Path) {
    std::fs::create_dir(root.join("dir")).unwrap();
    std::fs::write(root.join("f.mp4"), b"video bytes").unwrap();
    std::os::unix::fs::symlink("f.mp4", root.join("link")).unwrap();
    std::os::unix::fs::symlink("loop2", root.join("loop1")).unwrap();
    std::os::unix::fs::symlink("loop1", root.join("loop2")).unwrap();
    std::os::unix::fs::symlink("dir", root.join("dirlink")).unwrap();
    let fifo = c(&root.join("fifo"));
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    drop(std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap());
}

type Case = (&'static str, fn(&Path) -> Result<(), i32>);

const CASES: &[Case] = &[
    ("link to a directory", |r| {
        io(std::fs::hard_link(r.join("dir"), r.join("d2")))
    }),
    ("link over a name", |r| {
        io(std::fs::hard_link(r.join("f.mp4"), r.join("link")))
    }),
    ("link of a missing name", |r| {
        io(std::fs::hard_link(r.join("nope"), r.join("x")))
    }),
    ("link of a symlink", |r| {
        io(std::fs::hard_link(r.join("link"), r.join("l2")))
    }),
    ("link of a fifo", |r| {
        io(std::fs::hard_link(r.join("fifo"), r.join("fifo2")))
    }),
    ("symlink over a name", |r| {
        io(std::os::unix::fs::symlink("x", r.join("f.mp4")))
    }),
    ("symlink of 4095 bytes", |r| {
        io(std::os::unix::fs::symlink("a".repeat(4095), r.join("long")))
    }),
    ("symlink of 4096 bytes", |r| {
        io(std::os::unix::fs::symlink(
            "a".repeat(4096),
            r.join("toolong"),
        ))
    }),
    ("symlink with a 256-byte name", |r| {
        io(std::os::unix::fs::symlink("f.mp4", r.join("n".repeat(256))))
    }),
    ("readlink of a file", |r| {
        io(std::fs::read_link(r.join("f.mp4")))
    }),
    ("readlink of a directory", |r| {
        io(std::fs::read_link(r.join("dir")))
    }),
    ("open of a link loop", |r| {
        io(std::fs::File::open(r.join("loop1")))
    }),
    ("stat of a link loop", |r| {
        io(std::fs::metadata(r.join("loop1")))
    }),
    ("open O_NOFOLLOW of a symlink", |r| {
        // SAFETY: a valid path.
        last_errno(unsafe {
            libc::open(
                c(&r.join("link")).as_ptr(),
                libc::O_RDONLY | libc::O_NOFOLLOW,
            )
        })
    }),
    ("rmdir of a symlink to a directory", |r| {
        io(std::fs::remove_dir(r.join("dirlink")))
    }),
    ("unlink of a symlink to a directory", |r| {
        io(std::fs::remove_file(r.join("dirlink")))
    }),
    ("mkdir over a symlink", |r| {
        io(std::fs::create_dir(r.join("link")))
    }),
    ("mknod over a fifo", |r| {
        // SAFETY: a valid path.
        last_errno(unsafe { libc::mknod(c(&r.join("fifo")).as_ptr(), libc::S_IFIFO | 0o600, 0) })
    }),
    ("mknod of a directory type", |r| {
        // SAFETY: a valid path.
        last_errno(unsafe { libc::mknod(c(&r.join("nd")).as_ptr(), libc::S_IFDIR | 0o700, 0) })
    }),
    ("rename a directory over a fifo", |r| {
        io(std::fs::rename(r.join("dir"), r.join("fifo")))
    }),
    ("rename a socket over a directory", |r| {
        io(std::fs::rename(r.join("sock"), r.join("dir")))
    }),
    ("rename a symlink over a file", |r| {
        io(std::fs::rename(r.join("link"), r.join("f.mp4")))
    }),
    ("open of a socket", |r| {
        io(std::fs::File::open(r.join("sock")))
    }),
    ("truncate of a fifo", |r| {
        // SAFETY: a valid path.
        last_errno(unsafe { libc::truncate(c(&r.join("fifo")).as_ptr(), 0) })
    }),
    ("setxattr user.* on a symlink", |r| {
        let name = CString::new("user.x").unwrap();
        // SAFETY: valid path, name and value.
        last_errno(unsafe {
            libc::lsetxattr(
                c(&r.join("link")).as_ptr(),
                name.as_ptr(),
                b"1".as_ptr().cast(),
                1,
                0,
            )
        })
    }),
    ("setxattr user.* on a fifo", |r| {
        let name = CString::new("user.x").unwrap();
        // SAFETY: valid path, name and value.
        last_errno(unsafe {
            libc::lsetxattr(
                c(&r.join("fifo")).as_ptr(),
                name.as_ptr(),
                b"1".as_ptr().cast(),
                1,
                0,
            )
        })
    }),
    ("getxattr user.vod.state of a symlink itself", |r| {
        let name = CString::new("user.vod.state").unwrap();
        let mut buf = [0u8; 64];
        // SAFETY: valid path, name and buffer.
        let n = unsafe {
            libc::lgetxattr(
                c(&r.join("link")).as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                64,
            )
        };
        last_errno(n as libc::c_int)
    }),
    ("chmod of a symlink itself", |r| {
        // SAFETY: a valid path.
        last_errno(unsafe {
            libc::fchmodat(
                libc::AT_FDCWD,
                c(&r.join("link")).as_ptr(),
                0o600,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
    }),
    ("link of an unlinked open file", |r| {
        let f = std::fs::File::open(r.join("f.mp4")).unwrap();
        std::fs::remove_file(r.join("f.mp4")).unwrap();
        let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&f));
        let (from, to) = (CString::new(proc).unwrap(), c(&r.join("back")));
        // SAFETY: valid paths.
        last_errno(unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        })
    }),
];

#[test]
fn refused_operations_give_the_errno_of_a_local_filesystem() {
    let m = TestMount::new();
    let mut failures = Vec::new();
    for (what, case) in CASES {
        let (plain, mnt) = (tempfile::tempdir().unwrap(), m.path(what));
        std::fs::create_dir(&mnt).unwrap();
        prepare(plain.path());
        prepare(&mnt);
        let (want, got) = (case(plain.path()), case(&mnt));
        if want != got {
            failures.push(format!("{what}: local {want:?}, vodfs {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn symlinks_read_through_and_change_themselves_with_nofollow() {
    let m = TestMount::new();
    std::fs::create_dir(m.path("season")).unwrap();
    std::fs::write(m.path("season/ep2.mp4"), b"episode two").unwrap();
    std::os::unix::fs::symlink("season/ep2.mp4", m.path("latest.mp4")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/abs", m.path("abs")).unwrap();
    assert_eq!(std::fs::read(m.path("latest.mp4")).unwrap(), b"episode two");
    let l = std::fs::symlink_metadata(m.path("latest.mp4")).unwrap();
    assert!(l.file_type().is_symlink());
    assert_eq!(l.len(), "season/ep2.mp4".len() as u64);
    assert_eq!(
        std::fs::read_link(m.path("abs")).unwrap(),
        Path::new("/nonexistent/abs")
    );
    // Writing through the link writes the target.
    std::fs::OpenOptions::new()
        .append(true)
        .open(m.path("latest.mp4"))
        .unwrap()
        .write_all(b", longer")
        .unwrap();
    assert_eq!(
        std::fs::read(m.path("season/ep2.mp4")).unwrap(),
        b"episode two, longer"
    );
    // lchown and lutimes change the link, not the target.
    let target_before = std::fs::metadata(m.path("season/ep2.mp4")).unwrap();
    std::os::unix::fs::lchown(m.path("latest.mp4"), Some(1234), Some(5678)).unwrap();
    let ts = [libc::timespec {
        tv_sec: 1_600_000_000,
        tv_nsec: 0,
    }; 2];
    // SAFETY: valid path and two timespecs.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c(&m.path("latest.mp4")).as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(r, 0);
    let l = std::fs::symlink_metadata(m.path("latest.mp4")).unwrap();
    assert_eq!((l.uid(), l.gid(), l.mtime()), (1234, 5678, 1_600_000_000));
    let t = std::fs::metadata(m.path("season/ep2.mp4")).unwrap();
    assert_eq!(
        (t.uid(), t.gid(), t.mtime()),
        (
            target_before.uid(),
            target_before.gid(),
            target_before.mtime()
        )
    );
    // Renamed and removed as itself; the target stays.
    std::fs::rename(m.path("latest.mp4"), m.path("season/latest.mp4")).unwrap();
    assert_eq!(
        std::fs::read_link(m.path("season/latest.mp4")).unwrap(),
        Path::new("season/ep2.mp4")
    );
    assert!(
        std::fs::metadata(m.path("season/latest.mp4")).is_err(),
        "now dangling"
    );
    std::fs::remove_file(m.path("season/latest.mp4")).unwrap();
    assert!(m.path("season/ep2.mp4").exists());
    // Never uploaded: the one commit is the episode's.
    let commits = m.backend.commits();
    assert!(
        commits.iter().all(|c| c.name.starts_with(b"ep2")),
        "{commits:?}"
    );
}

#[test]
fn special_files_are_metadata_and_the_mount_is_nodev() {
    let m = TestMount::new();
    let dev = c(&m.path("null"));
    // SAFETY: a valid path.
    assert_eq!(
        unsafe { libc::mknod(dev.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) },
        0
    );
    let e = std::fs::File::open(m.path("null")).unwrap_err();
    assert_eq!(
        e.raw_os_error(),
        Some(libc::EACCES),
        "a device node on a nodev mount"
    );
    // A fifo is the kernel's pipe, whatever filesystem holds it.
    let fifo = c(&m.path("fifo"));
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let path = m.path("fifo");
    let writer = std::thread::spawn(move || {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .write_all(b"through the pipe")
            .unwrap();
    });
    let mut got = String::new();
    std::fs::File::open(m.path("fifo"))
        .unwrap()
        .read_to_string(&mut got)
        .unwrap();
    writer.join().unwrap();
    assert_eq!(got, "through the pipe");
    std::fs::rename(m.path("fifo"), m.path("fifo2")).unwrap();
    let md = std::fs::symlink_metadata(m.path("fifo2")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&md.file_type()));
    assert_eq!(md.len(), 0);
    std::fs::remove_file(m.path("fifo2")).unwrap();
    std::fs::remove_file(m.path("null")).unwrap();
    assert!(m.backend.commits().is_empty(), "nothing is uploaded");
}

#[test]
fn directory_link_counts_follow_mkdir_rename_and_rmdir() {
    let m = TestMount::new();
    let plain = tempfile::tempdir().unwrap();
    let counts = |root: &Path| -> Vec<u64> {
        ["a", "b", "a/x", "b/x"]
            .iter()
            .map(|p| std::fs::symlink_metadata(root.join(p)).map_or(0, |md| md.nlink()))
            .collect()
    };
    let root_nlink = || std::fs::metadata(m.root()).unwrap().nlink();
    let root_before = root_nlink();
    for root in [plain.path(), m.root()] {
        std::fs::create_dir_all(root.join("a/x/y")).unwrap();
        std::fs::create_dir(root.join("b")).unwrap();
    }
    assert_eq!(counts(m.root()), counts(plain.path()));
    assert_eq!(root_nlink(), root_before + 2, "a and b");
    for root in [plain.path(), m.root()] {
        std::fs::rename(root.join("a/x"), root.join("b/x")).unwrap();
    }
    assert_eq!(counts(m.root()), counts(plain.path()));
    assert_eq!(counts(m.root()), vec![2, 3, 0, 3]);
    for root in [plain.path(), m.root()] {
        std::fs::remove_dir(root.join("b/x/y")).unwrap();
        std::fs::remove_dir(root.join("b/x")).unwrap();
    }
    assert_eq!(counts(m.root()), counts(plain.path()));
}

#[test]
fn truncate_and_write_past_the_largest_file_are_efbig() {
    let m = TestMount::new();
    std::fs::write(m.path("f.mp4"), b"x").unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(m.path("f.mp4"))
        .unwrap();
    let e = f.set_len(vodfs::fs::MAX_FILE_SIZE + 1).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EFBIG));
    let e = std::os::unix::fs::FileExt::write_at(&f, b"y", vodfs::fs::MAX_FILE_SIZE).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EFBIG));
    // ext4 refuses the same truncate with the same errno.
    let plain = tempfile::tempdir().unwrap();
    let g = std::fs::File::create(plain.path().join("f")).unwrap();
    assert_eq!(
        g.set_len(vodfs::fs::MAX_FILE_SIZE + 1)
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EFBIG)
    );
    drop(f);
    assert_eq!(
        std::fs::read(m.path("f.mp4")).unwrap(),
        b"x",
        "nothing changed"
    );
}

fn exchange(root: &Path, a: &str, b: &str) -> Result<(), i32> {
    let (a, b) = (c(&root.join(a)), c(&root.join(b)));
    // SAFETY: valid paths; renameat2 by syscall number (any libc).
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    last_errno(r as libc::c_int)
}

/// Type, link count and symlink target of each path, the link counts of
/// the directories included.
fn shapes(root: &Path, paths: &[&str]) -> Vec<String> {
    paths
        .iter()
        .map(|p| match std::fs::symlink_metadata(root.join(p)) {
            Ok(md) => format!(
                "{p}: {:o} nlink {} -> {:?}",
                md.mode() & libc::S_IFMT,
                md.nlink(),
                std::fs::read_link(root.join(p)).ok()
            ),
            Err(e) => format!("{p}: {e}"),
        })
        .collect()
}

#[test]
fn rename_exchange_swaps_any_two_names_as_ext4_does() {
    let m = TestMount::new();
    let plain = tempfile::tempdir().unwrap();
    let paths = [
        "dir",
        "f.mp4",
        "link",
        "fifo",
        "sub",
        "sub/inner",
        "dir/inner",
    ];
    for root in [plain.path(), m.root()] {
        prepare(root);
        std::fs::create_dir_all(root.join("sub/inner")).unwrap();
    }
    for (a, b) in [
        ("f.mp4", "link"),
        ("dir", "fifo"),
        ("sub/inner", "f.mp4"),
        ("sub", "sub/inner"),
        ("missing", "f.mp4"),
        ("fifo", "sub/inner"),
    ] {
        let (want, got) = (exchange(plain.path(), a, b), exchange(m.root(), a, b));
        assert_eq!(got, want, "exchange {a} {b}");
        assert_eq!(
            shapes(m.root(), &paths),
            shapes(plain.path(), &paths),
            "after exchange {a} {b}"
        );
    }
    assert_eq!(
        std::fs::read(m.path("link")).unwrap_or_default(),
        std::fs::read(plain.path().join("link")).unwrap_or_default()
    );
}

#[test]
fn cp_a_and_tar_carry_every_type_in_and_out_with_one_commit_per_content() {
    use std::process::Command;
    let m = TestMount::new();
    let src = tempfile::tempdir().unwrap();
    prepare(src.path());
    std::fs::hard_link(src.path().join("f.mp4"), src.path().join("dir/same.mp4")).unwrap();
    std::fs::write(src.path().join("dir/g.mp4"), b"another video").unwrap();
    let sh = |script: String| {
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sh(format!(
        "cp -a {}/. {}/cp",
        src.path().display(),
        m.root().display()
    ));
    std::fs::create_dir(m.path("tar")).unwrap();
    // tar skips sockets ("socket ignored"): the rest goes.
    sh(format!(
        "tar -C {} -cf - --exclude ./sock . | tar -C {}/tar -xf -",
        src.path().display(),
        m.root().display()
    ));
    let paths = [
        "dir",
        "f.mp4",
        "link",
        "loop1",
        "dirlink",
        "fifo",
        "dir/same.mp4",
        "dir/g.mp4",
        "sock",
    ];
    for copy in ["cp", "tar"] {
        let paths = &paths[..paths.len() - usize::from(copy == "tar")];
        assert_eq!(
            shapes(&m.path(copy), paths),
            shapes(src.path(), paths),
            "{copy}"
        );
        let (a, b) = (
            std::fs::metadata(m.path(copy).join("f.mp4")).unwrap(),
            std::fs::metadata(m.path(copy).join("dir/same.mp4")).unwrap(),
        );
        assert_eq!(a.ino(), b.ino(), "{copy}: the hard link is kept");
    }
    // Two contents per copy, each committed once.
    assert_eq!(
        m.backend.commits().len(),
        4,
        "{:?}",
        m.backend
            .commits()
            .iter()
            .map(|c| String::from_utf8_lossy(&c.name).into_owned())
            .collect::<Vec<_>>()
    );
    // And out again with tar.
    let out = tempfile::tempdir().unwrap();
    sh(format!(
        "tar -C {}/tar -cf - . | tar -C {} -xf -",
        m.root().display(),
        out.path().display()
    ));
    let paths = &paths[..paths.len() - 1];
    assert_eq!(shapes(out.path(), paths), shapes(src.path(), paths));
    assert_eq!(
        std::fs::read(out.path().join("dir/same.mp4")).unwrap(),
        b"video bytes"
    );
}
