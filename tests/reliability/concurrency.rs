//! Concurrency: 8 writers with readers and `ls -l` loops running at the
//! same time: no deadlock, no "database is locked", every file committed.
//! Every syscall of the writer, reader and listing threads is timed and the
//! slowest must answer within 5 s: a deadlock bound, not a performance goal.
//! It runs 8 × 100 files with the rate limits of the service and of the
//! mount lifted (`--no-rate-limit`), so it is about concurrency, not pacing.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// The slowest syscall seen so far, and what it was.
#[derive(Default)]
struct Slowest(Mutex<(Duration, String)>);

impl Slowest {
    /// Runs `f` (one syscall), recording its time under `what`.
    fn time<T>(&self, what: impl FnOnce() -> String, f: impl FnOnce() -> T) -> T {
        let t0 = Instant::now();
        let r = f();
        let took = t0.elapsed();
        let mut g = self.0.lock().unwrap();
        if took > g.0 {
            *g = (took, what());
        }
        r
    }

    fn get(&self) -> (Duration, String) {
        self.0.lock().unwrap().clone()
    }
}

/// The deadlock bound of every request.
const MAX_WAIT: Duration = Duration::from_secs(5);

#[test]
fn concurrency_eight_writers_with_readers_and_ls() {
    // 8 × 100 files take about a minute and a half: part of the default
    // suite (nextest timeout raised in .config/nextest.toml).
    let per_writer = 100;
    let svc = Service::start_with(&["--no-rate-limit"]);
    let m = Mount::with_args(&svc, &["--write-back=0.1", "--no-rate-limit"]);
    let slowest = Arc::new(Slowest::default());
    let mnt = m.mountpoint.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let listings = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut side = Vec::new();
    for _ in 0..2 {
        let (mnt, stop, listings) = (mnt.clone(), stop.clone(), listings.clone());
        side.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let out = Command::new("ls")
                    .arg("-lR")
                    .arg(&mnt)
                    .output()
                    .expect("ls");
                assert!(out.status.success() || !out.stderr.is_empty());
                listings.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // An `ls -l` in process: readdir and lstat of each entry, each timed.
    {
        let (mnt, stop, listings, slowest) =
            (mnt.clone(), stop.clone(), listings.clone(), slowest.clone());
        side.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let entries: Vec<_> = slowest.time(
                    || "readdir of the mount".into(),
                    || {
                        std::fs::read_dir(&mnt)
                            .expect("readdir")
                            .flatten()
                            .collect()
                    },
                );
                for e in entries {
                    let p = e.path();
                    // A file may be renamed or removed meanwhile: any answer.
                    let _ = slowest.time(
                        || format!("lstat {}", p.display()),
                        || std::fs::symlink_metadata(&p),
                    );
                }
                listings.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for _ in 0..2 {
        let (mnt, stop, reads, slowest) =
            (mnt.clone(), stop.clone(), reads.clone(), slowest.clone());
        side.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for e in std::fs::read_dir(&mnt).expect("readdir").flatten() {
                    if !e.file_type().is_ok_and(|t| t.is_file()) {
                        continue;
                    }
                    // A file may be mid-write: any length, never an error.
                    let p = e.path();
                    let mut f = slowest
                        .time(
                            || format!("open {}", p.display()),
                            || std::fs::File::open(&p),
                        )
                        .expect("open while writers run");
                    let mut buf = vec![0; 128 * 1024];
                    loop {
                        let n = slowest
                            .time(|| format!("read {}", p.display()), || f.read(&mut buf))
                            .expect("read while writers run");
                        if n == 0 {
                            break;
                        }
                    }
                    slowest.time(|| format!("close {}", p.display()), || drop(f));
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (mnt, slowest) = (mnt.clone(), slowest.clone());
            std::thread::spawn(move || {
                let mut srcs = Vec::new();
                for i in 0..per_writer {
                    let name = format!("w{w}-{i:03}.mp4");
                    let bytes =
                        random_bytes(4096 + (w * 131 + i * 17) % 60_000, (w * 1000 + i) as u64);
                    let p = mnt.join(&name);
                    let mut f = slowest
                        .time(|| format!("create {name}"), || std::fs::File::create(&p))
                        .expect("create");
                    for chunk in bytes.chunks(16 * 1024) {
                        slowest
                            .time(|| format!("write {name}"), || f.write_all(chunk))
                            .expect("write");
                    }
                    // close: FLUSH and RELEASE (write-back: staged, not committed).
                    slowest.time(|| format!("close {name}"), || drop(f));
                    srcs.push(Source { name, bytes });
                }
                srcs
            })
        })
        .collect();
    let srcs: Vec<Source> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("writer"))
        .collect();
    let paths: Vec<_> = srcs.iter().map(|s| m.path(&s.name)).collect();
    wait_all(&m, &paths);
    stop.store(true, Ordering::Relaxed);
    for t in side {
        t.join().expect("reader / ls thread");
    }
    let n = assert_all_committed_once(&svc, &m.mountpoint, &srcs);
    let log = m.log();
    assert!(!log.contains("database is locked"), "{}", tail(&log, 40));
    let (max, what) = slowest.get();
    println!(
        "concurrency: 8 writers × {per_writer} files = {n} committed once in {:.1} s, with {} listings \
         (`ls -lR` and readdir + lstat) and {} whole-file reads alongside; no \"database is locked\"; \
         slowest syscall {:.3} s ({what})",
        t0.elapsed().as_secs_f64(),
        listings.load(Ordering::Relaxed),
        reads.load(Ordering::Relaxed),
        max.as_secs_f64()
    );
    assert!(max < MAX_WAIT, "a request waited {max:?}: {what}");
}
