//! Differential test: seeded random sequences of create, write at random
//! offsets, truncate, rename, unlink, mkdir, rmdir, chmod and utimens are
//! applied to the mount and to a plain temp directory; after every step the
//! outcomes (errno) and the trees (listing, kinds, sizes, modes, file
//! mtimes, contents) must be equal.

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
}

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
    match rng.random_range(0..100) {
        0..=9 => Op::Overwrite {
            path,
            len: rng.random_range(0..1_200_000),
            seed: rng.random(),
        },
        10..=34 => Op::Write {
            path,
            offset: if rng.random_bool(0.5) {
                0
            } else {
                rng.random_range(0..3_000_000)
            },
            len: rng.random_range(1..1_500_000),
            seed: rng.random(),
        },
        35..=44 => Op::Truncate {
            path,
            size: rng.random_range(0..2_500_000),
        },
        45..=59 => Op::Rename {
            from: path,
            to: pick_path(rng),
        },
        60..=67 => Op::Unlink { path },
        68..=77 => Op::Mkdir { path },
        78..=83 => Op::Rmdir { path },
        84..=91 => Op::Chmod {
            path,
            mode: [0o644, 0o600, 0o755, 0o640][rng.random_range(0..4)],
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
    if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Applies `op` under `root`; returns the errno, if any.
fn apply(root: &Path, op: &Op, step: u64) -> Option<i32> {
    let p = |rel: &str| root.join(rel);
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
        Op::Unlink { path } => std::fs::remove_file(p(path)),
        Op::Mkdir { path } => std::fs::create_dir(p(path)),
        Op::Rmdir { path } => std::fs::remove_dir(p(path)),
        Op::Chmod { path, mode } => {
            std::fs::set_permissions(p(path), std::fs::Permissions::from_mode(*mode))
        }
        Op::Utimens { path, secs } => set_mtime(&p(path), *secs),
    })())
}

#[derive(Debug, PartialEq, Eq)]
struct Node {
    dir: bool,
    mode: u32,
    size: u64,
    mtime: Option<(i64, i64)>,
    /// A digest of the content (full bytes would make failures unreadable).
    content: Option<u64>,
}

fn digest(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100000001b3)
    })
}

fn snapshot(root: &Path, rel: &str, out: &mut BTreeMap<String, Node>) {
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
        let node = Node {
            dir: md.is_dir(),
            mode: md.mode() & 0o7777,
            size: if md.is_dir() { 0 } else { md.len() },
            mtime: (!md.is_dir()).then(|| (md.mtime(), md.mtime_nsec())),
            content: (!md.is_dir())
                .then(|| digest(&std::fs::read(root.join(&path)).expect("read"))),
        };
        let is_dir = node.dir;
        out.insert(path.clone(), node);
        if is_dir {
            snapshot(root, &path, out);
        }
    }
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
        let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
        snapshot(plain.path(), "", &mut a);
        snapshot(m.root(), "", &mut b);
        if a != b {
            for (path, node) in &a {
                if b.get(path) != Some(node) && !node.dir {
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
        run_seed(seed, 60, None);
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
