//! Eviction of committed content: a tiny `--cache-size`, files committed,
//! more written so the first ones are evicted; the evicted files read back
//! through the mount from their URLs (`cmp` with their sources), say so in
//! `user.vod.cached` and `vodfs status`, and fail with EIO and a log line
//! when their URL fails. A remount with a smaller `--cache-size` evicts at
//! start.

use super::*;

/// Writes `n` files of 1 MiB named `{prefix}{i}.mp4` (sources kept in
/// `dir` for `cmp`), each committed before the next.
fn commit_files(
    svc: &Service,
    m: &Mount,
    dir: &Path,
    prefix: &str,
    n: usize,
    seed: u64,
) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..n {
        let name = format!("{prefix}{i}.mp4");
        let bytes = random_bytes(1 << 20, seed + i as u64);
        std::fs::write(dir.join(&name), &bytes).expect("source");
        run(Command::new("cp").arg(dir.join(&name)).arg(m.path(&name)));
        assert_committed(svc, &m.path(&name), &bytes);
        names.push(name);
    }
    names
}

fn cached(m: &Mount, name: &str) -> Option<String> {
    getfattr(&m.path(name), "user.vod.cached")
}

fn cmp(a: &Path, b: &Path) {
    let out = Command::new("cmp").arg(a).arg(b).output().expect("cmp");
    assert!(
        out.status.success(),
        "cmp {} {}: {}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn eviction_committed_files_are_evicted_and_read_back_from_their_urls() {
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--cache-size=3M"]);
    let src = tempfile::tempdir().expect("tempdir");
    let mut names = commit_files(&svc, &m, src.path(), "f", 3, 700);
    for n in &names {
        assert_eq!(cached(&m, n).as_deref(), Some("1"), "{n}");
    }
    // Two more: the cache holds 3 MiB, so the first committed ones go.
    names.extend(commit_files(&svc, &m, src.path(), "g", 2, 800));
    let evicted: Vec<&String> = names
        .iter()
        .filter(|n| cached(&m, n).as_deref() == Some("0"))
        .collect();
    println!("eviction: --cache-size=3M, 5 files of 1 MiB committed; evicted {evicted:?}");
    assert!(evicted.len() >= 2, "{evicted:?}");
    // One log line per evicted file, naming it.
    let log = m.log();
    for n in &evicted {
        assert!(
            log.lines()
                .any(|l| l.contains("evicted committed data") && l.contains(&format!("/{n}"))),
            "no eviction log line names {n}:\n{}",
            tail(&log, 20)
        );
    }
    // Every file reads back through the mount with its source's bytes;
    // the evicted ones from their URLs, without coming back into the cache.
    for n in &names {
        cmp(&src.path().join(n), &m.path(n));
    }
    for n in &evicted {
        assert_eq!(cached(&m, n).as_deref(), Some("0"), "{n} came back");
        assert_eq!(
            getfattr(&m.path(n), "user.vod.state").as_deref(),
            Some("committed")
        );
    }
    // `vodfs status` tells them apart.
    let out = Command::new(vodfs_bin())
        .args(["status", "--all"])
        .arg(&m.mountpoint)
        .output()
        .expect("vodfs status");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        text.contains(&format!("{} evicted", evicted.len())),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("evicted") && l.contains(evicted[0].as_str())),
        "{text}"
    );
    // Appending to an evicted file fetches it back whole first, then the
    // new content commits.
    let n = evicted[0].clone();
    let mut whole = std::fs::read(src.path().join(&n)).expect("source");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(m.path(&n))
            .expect("open for append");
        f.write_all(b"tail").expect("append");
    }
    whole.extend_from_slice(b"tail");
    assert_committed(&svc, &m.path(&n), &whole);
    assert!(
        m.log().contains("restored evicted content"),
        "{}",
        tail(&m.log(), 20)
    );
}

#[test]
fn eviction_remount_with_a_smaller_cache_size_evicts_at_start() {
    let svc = Service::start();
    let mut m = Mount::with_args(&svc, &["--cache-size=8M"]);
    let src = tempfile::tempdir().expect("tempdir");
    let names = commit_files(&svc, &m, src.path(), "f", 4, 900);
    assert!(names.iter().all(|n| cached(&m, n).as_deref() == Some("1")));
    m.unmount();
    let mut small = Mount::with_args(&svc, &["--cache-size=2M"]);
    // The same cache, remounted smaller.
    small.unmount();
    small.cache = m.cache.clone();
    small.start();
    let evicted = names
        .iter()
        .filter(|n| cached(&small, n).as_deref() == Some("0"))
        .count();
    println!(
        "eviction: 4 MiB committed, remounted with --cache-size=2M: {evicted} evicted at start"
    );
    assert!(evicted >= 2, "{evicted} evicted");
    assert!(
        small.log().contains("over --cache-size at mount start"),
        "{}",
        tail(&small.log(), 20)
    );
    for n in &names {
        cmp(&src.path().join(n), &small.path(n));
    }
}

#[test]
fn eviction_a_failing_url_is_eio_with_a_log_line() {
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--cache-size=1M"]);
    let src = tempfile::tempdir().expect("tempdir");
    commit_files(&svc, &m, src.path(), "f", 2, 1000);
    assert_eq!(cached(&m, "f0.mp4").as_deref(), Some("0"));
    // The service goes away: the URL fails.
    drop(svc);
    let e = std::fs::read(m.path("f0.mp4")).expect_err("read of an evicted file without its URL");
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    let log = m.log();
    assert!(
        log.lines()
            .any(|l| l.contains("f0.mp4") && l.contains("evicted content") && l.contains("failed")),
        "no log line names the file:\n{}",
        tail(&log, 20)
    );
    println!("eviction: reading an evicted file whose URL fails: {e}");
}

/// A large evicted file read from its URL through the growing read-ahead
/// windows (1 MiB doubling to 8 MiB, the next fetched ahead): a sequential
/// `cmp`, then reads at scattered offsets (each restarts the windows) and
/// a second sequential pass, all equal to the source.
#[test]
fn eviction_large_file_reads_back_sequentially_and_at_random_offsets() {
    use std::io::{Read, Seek, SeekFrom};
    let svc = Service::start();
    let mut m = Mount::with_args(&svc, &[]);
    let src = tempfile::tempdir().expect("tempdir");
    let bytes = random_bytes(37 << 20 | 4321, 1200);
    std::fs::write(src.path().join("big.mp4"), &bytes).expect("source");
    run(Command::new("cp")
        .arg(src.path().join("big.mp4"))
        .arg(m.path("big.mp4")));
    assert_committed(&svc, &m.path("big.mp4"), &bytes);
    m.unmount();
    let mut small = Mount::with_args(&svc, &["--cache-size=1M"]);
    small.unmount();
    small.cache = m.cache.clone();
    small.start();
    assert_eq!(cached(&small, "big.mp4").as_deref(), Some("0"));
    cmp(&src.path().join("big.mp4"), &small.path("big.mp4"));
    let mut f = std::fs::File::open(small.path("big.mp4")).expect("open");
    let mut x = 0x9e37_79b9_u64;
    for _ in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let off = (x % bytes.len() as u64) as usize;
        let len = ((x >> 20) % 300_000) as usize + 1;
        let mut got = vec![0; len];
        f.seek(SeekFrom::Start(off as u64)).expect("seek");
        let n = f.read(&mut got).expect("read at an offset");
        assert!(n > 0 || off == bytes.len());
        assert_eq!(&got[..n], &bytes[off..off + n], "bytes at {off}");
    }
    drop(f);
    cmp(&src.path().join("big.mp4"), &small.path("big.mp4"));
    assert_eq!(
        cached(&small, "big.mp4").as_deref(),
        Some("0"),
        "reads do not bring evicted content back into the cache"
    );
}
