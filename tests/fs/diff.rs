//! Differential test: seeded random sequences of create, write at random
//! offsets, truncate, rename, rename with RENAME_EXCHANGE, unlink, mkdir,
//! rmdir, chmod, utimens, symlink, hard link, mkfifo and mknod (sockets,
//! character and block devices) are applied to the mount and to a plain
//! temp directory; after every step the
//! outcomes (errno) and the trees (listing, kinds, sizes, modes, link
//! counts, device numbers, symlink targets, which names share an inode,
//! mtimes, contents) must be equal. Writes that would open a fifo or a
//! device node are skipped on both sides alike (a fifo blocks; the mount
//! is `nodev`, the plain directory is not).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::TestMount;
use crate::common::random_bytes;

const DIRS: &[&str] = &["", "d1", "d1/d2", "d3"];
const NAMES: &[&str] = &["a", "b.mp4", "c", "d1", "d2", "d3", ".v.mp4.Ab12Cd"];

#[derive(Debug, Clone)]
enum Op {
    Write {
        path: String,
        offset: u64,
        len: usize,
        seed: u64,
    },
    Truncate {
        path: String,
        size: u64,
    },
    /// open(O_TRUNC) + write, like `cp` over a file.
    Overwrite {
        path: String,
        len: usize,
        seed: u64,
    },
    Rename {
        from: String,
        to: String,
    },
    /// renameat2(RENAME_EXCHANGE).
    Exchange {
        a: String,
        b: String,
    },
    Unlink {
        path: String,
    },
    Mkdir {
        path: String,
    },
    Rmdir {
        path: String,
    },
    Chmod {
        path: String,
        mode: u32,
    },
    Utimens {
        path: String,
        secs: i64,
    },
    Symlink {
        target: String,
        path: String,
    },
    Link {
        from: String,
        to: String,
    },
    /// mknod(2) of a fifo, a socket or a character device.
    Mknod {
        path: String,
        mode: u32,
        rdev: u64,
    },
}

/// Symlink targets: relative (into a subdirectory and up), absolute and
/// dangling, and names that make loops.
const TARGETS: &[&str] = &[
    "a",
    "b.mp4",
    "../c",
    "d1/d2",
    "d1",
    "/nonexistent/x",
    "a/b/c",
];

/// A special file's type bits and rdev.
const SPECIALS: &[(u32, u64)] = &[
    (libc::S_IFIFO, 0),
    (libc::S_IFSOCK, 0),
    (libc::S_IFCHR, (1 << 8) | 3),
    (libc::S_IFBLK, 7 << 8),
];

fn pick_path(rng: &mut StdRng) -> String {
    let dir = DIRS[rng.random_range(0..DIRS.len())];
    let name = NAMES[rng.random_range(0..NAMES.len())];
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn random_op(rng: &mut StdRng) -> Op {
    let path = pick_path(rng);
    let top = if rng.random_bool(0.5) {
        NAMES[rng.random_range(0..NAMES.len())].to_string()
    } else {
        path.clone()
    };
    match rng.random_range(0..100) {
        0..=9 => Op::Overwrite {
            path,
            len: rng.random_range(0..1_200_000),
            seed: rng.random(),
        },
        10..=29 => Op::Write {
            path,
            offset: if rng.random_bool(0.5) {
                0
            } else {
                rng.random_range(0..3_000_000)
            },
            len: rng.random_range(1..1_500_000),
            seed: rng.random(),
        },
        30..=39 => Op::Truncate {
            path,
            size: rng.random_range(0..2_500_000),
        },
        40..=49 => Op::Rename {
            from: path,
            to: pick_path(rng),
        },
        50..=53 => Op::Exchange { a: path, b: top },
        54..=61 => Op::Unlink { path },
        62..=69 => Op::Mkdir { path },
        70..=74 => Op::Rmdir { path },
        75..=79 => Op::Chmod {
            path,
            mode: [0o644, 0o600, 0o755, 0o640][rng.random_range(0..4)],
        },
        80..=91 => match rng.random_range(0..3) {
            // New nodes at the top half the time: subdirectories are often
            // missing, and the nodes are then renamed and linked about.
            0 => Op::Symlink {
                target: TARGETS[rng.random_range(0..TARGETS.len())].to_string(),
                path: top,
            },
            // From a name at the top, where writes most often made a file.
            1 => Op::Link {
                from: ["a", "b.mp4", "c", "d1"][rng.random_range(0..4)].to_string(),
                to: top,
            },
            _ => {
                let (mode, rdev) = SPECIALS[rng.random_range(0..SPECIALS.len())];
                Op::Mknod {
                    path: top,
                    mode: mode | 0o640,
                    rdev,
                }
            }
        },
        _ => Op::Utimens {
            path,
            secs: rng.random_range(0..2_000_000_000),
        },
    }
}

fn errno(r: std::io::Result<()>) -> Option<i32> {
    r.err().map(|e| e.raw_os_error().unwrap_or(-1))
}

fn set_mtime(p: &Path, secs: i64) -> std::io::Result<()> {
    set_times(p, secs, 0)
}

/// utimensat with `flags` (`AT_SYMLINK_NOFOLLOW`: the link itself).
fn set_times(p: &Path, secs: i64, flags: i32) -> std::io::Result<()> {
    let c = CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let ts = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: 500,
        },
    ];
    // SAFETY: valid path and two timespecs.
    if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn mknod(p: &Path, mode: u32, rdev: u64) -> std::io::Result<()> {
    let c = CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mknod(c.as_ptr(), mode, rdev) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let a = CString::new(a.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let b = CString::new(b.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
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
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// True when opening `p` (following symlinks) would reach a fifo or a
/// device node: both sides skip such a write alike.
fn opens_special(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| {
        let t = m.file_type();
        t.is_fifo() || t.is_char_device() || t.is_block_device()
    })
}

/// The outcome of an operation both sides skipped.
const SKIPPED: Option<i32> = Some(-2);

/// Applies `op` under `root`; returns the errno, if any.
fn apply(root: &Path, op: &Op, step: u64) -> Option<i32> {
    let p = |rel: &str| root.join(rel);
    let opened = match op {
        Op::Write { path, .. } | Op::Truncate { path, .. } | Op::Overwrite { path, .. } => {
            Some(path)
        }
        _ => None,
    };
    if opened.is_some_and(|path| opens_special(&p(path))) {
        return SKIPPED;
    }
    errno((|| match op {
        Op::Write {
            path,
            offset,
            len,
            seed,
        } => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(p(path))?;
            f.write_all_at(&random_bytes(*len, *seed), *offset)?;
            drop(f);
            // Make the mtime deterministic so both trees compare.
            set_mtime(&p(path), 1_000_000 + step as i64)
        }
        Op::Truncate { path, size } => {
            let f = std::fs::OpenOptions::new().write(true).open(p(path))?;
            f.set_len(*size)?;
            drop(f);
            set_mtime(&p(path), 1_000_000 + step as i64)
        }
        Op::Overwrite { path, len, seed } => {
            std::fs::write(p(path), random_bytes(*len, *seed))?;
            set_mtime(&p(path), 1_000_000 + step as i64)
        }
        Op::Rename { from, to } => std::fs::rename(p(from), p(to)),
        Op::Exchange { a, b } => exchange(&p(a), &p(b)),
        Op::Unlink { path } => std::fs::remove_file(p(path)),
        Op::Mkdir { path } => std::fs::create_dir(p(path)),
        Op::Rmdir { path } => std::fs::remove_dir(p(path)),
        Op::Chmod { path, mode } => {
            std::fs::set_permissions(p(path), std::fs::Permissions::from_mode(*mode))
        }
        Op::Utimens { path, secs } => set_mtime(&p(path), *secs),
        // Times of the new node itself, deterministic (lutimes).
        Op::Symlink { target, path } => std::os::unix::fs::symlink(target, p(path))
            .and_then(|()| set_times(&p(path), 1_000_000 + step as i64, libc::AT_SYMLINK_NOFOLLOW)),
        Op::Link { from, to } => std::fs::hard_link(p(from), p(to)),
        Op::Mknod { path, mode, rdev } => mknod(&p(path), *mode, *rdev)
            .and_then(|()| set_times(&p(path), 1_000_000 + step as i64, libc::AT_SYMLINK_NOFOLLOW)),
    })())
}

#[derive(Debug, PartialEq, Eq)]
struct Node {
    dir: bool,
    /// File type and permission bits.
    mode: u32,
    size: u64,
    nlink: u64,
    rdev: u64,
    mtime: Option<(i64, i64)>,
    /// A digest of a regular file's content (full bytes would make
    /// failures unreadable).
    content: Option<u64>,
    /// A symlink's target.
    target: Option<String>,
    /// The first path (in order) with the same inode: hard links.
    same_as: String,
}

fn digest(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100000001b3)
    })
}

/// Every node under `root`/`rel` with its inode number.
fn snapshot(root: &Path, rel: &str, out: &mut BTreeMap<String, (Node, u64)>) {
    let dir = root.join(rel);
    for e in std::fs::read_dir(&dir).expect("read_dir") {
        let e = e.expect("entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if rel.is_empty() && name == "by-id" {
            continue;
        }
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let md = std::fs::symlink_metadata(root.join(&path)).expect("stat");
        let t = md.file_type();
        let node = Node {
            dir: md.is_dir(),
            mode: md.mode(),
            size: if md.is_dir() { 0 } else { md.len() },
            nlink: md.nlink(),
            rdev: md.rdev(),
            mtime: (!md.is_dir()).then(|| (md.mtime(), md.mtime_nsec())),
            content: t
                .is_file()
                .then(|| digest(&std::fs::read(root.join(&path)).expect("read"))),
            target: t.is_symlink().then(|| {
                let t = std::fs::read_link(root.join(&path)).expect("readlink");
                t.to_string_lossy().into_owned()
            }),
            same_as: String::new(),
        };
        let is_dir = node.dir;
        out.insert(path.clone(), (node, md.ino()));
        if is_dir {
            snapshot(root, &path, out);
        }
    }
}

/// The tree under `root`, each node knowing which names share its inode.
fn tree(root: &Path) -> BTreeMap<String, Node> {
    let mut nodes = BTreeMap::new();
    snapshot(root, "", &mut nodes);
    let mut first: BTreeMap<u64, String> = BTreeMap::new();
    for (path, (_, ino)) in &nodes {
        first.entry(*ino).or_insert_with(|| path.clone());
    }
    nodes
        .into_iter()
        .map(|(path, (mut node, ino))| {
            node.same_as = first[&ino].clone();
            (path, node)
        })
        .collect()
}

fn run_seed(seed: u64, steps: u64, write_back: Option<std::time::Duration>) {
    let m = TestMount::with(write_back);
    let plain = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    for step in 0..steps {
        let op = random_op(&mut rng);
        let want = apply(plain.path(), &op, step);
        let got = apply(m.root(), &op, step);
        if std::env::var_os("VODFS_DIFF_TRACE").is_some() {
            eprintln!("step {step}: {op:?} -> {got:?}");
        }
        assert_eq!(got, want, "seed {seed} step {step}: {op:?}: errno differs");
        let (a, b) = (tree(plain.path()), tree(m.root()));
        if a != b {
            for (path, node) in &a {
                if b.get(path).map(|n| n.content) != Some(node.content) && node.content.is_some() {
                    let x = std::fs::read(plain.path().join(path)).unwrap_or_default();
                    let y = std::fs::read(m.root().join(path)).unwrap_or_default();
                    let first = x.iter().zip(&y).position(|(p, q)| p != q);
                    let last = x.iter().zip(&y).rposition(|(p, q)| p != q);
                    eprintln!("{path}: first difference at {first:?}, last at {last:?}");
                }
            }
        }
        assert_eq!(b, a, "seed {seed} step {step}: {op:?}: trees differ");
    }
    assert!(
        m.backend.hash_mismatches().is_empty(),
        "{:?}",
        m.backend.hash_mismatches()
    );
}

/// `VODFS_DIFF_SEEDS=N` adds N more seeds (a longer soak by hand).
fn seeds(base: &[u64]) -> Vec<u64> {
    let extra: u64 = std::env::var("VODFS_DIFF_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    base.iter().copied().chain(1000..1000 + extra).collect()
}

#[test]
fn mount_behaves_like_a_plain_directory() {
    for seed in seeds(&[1, 2, 3]) {
        run_seed(seed, 100, None);
    }
}

#[test]
fn mount_behaves_like_a_plain_directory_in_write_back_mode() {
    // Commits run in the background while the sequence goes on.
    for seed in seeds(&[4, 5]) {
        run_seed(seed, 60, Some(std::time::Duration::from_millis(5)));
    }
}

/// Seed 5 in write-back mode: a file created after a committed file was
/// unlinked got its inode number back, and with it the media's bytes.
#[test]
fn regression_reused_inode_number_showed_an_old_media() {
    let m = TestMount::with(Some(std::time::Duration::from_millis(5)));
    std::fs::write(m.path("old"), b"old media bytes").unwrap();
    for _ in 0..400 {
        if !m.backend.commits().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(m.backend.commits().len(), 1);
    std::fs::remove_file(m.path("old")).unwrap();
    let f = std::fs::File::create(m.path("new")).unwrap();
    f.write_all_at(b"tail", 100).unwrap();
    drop(f);
    let got = std::fs::read(m.path("new")).unwrap();
    assert_eq!(&got[..100], &[0u8; 100][..]);
    assert_eq!(&got[100..], b"tail");
}
