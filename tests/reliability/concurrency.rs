//! Concurrency: 8 writers with readers and `ls -l` loops running at the
//! same time: no deadlock, no "database is locked", every file committed.
//! The long variant (8 × 100 files) takes over 8 minutes: the mount paces
//! InitUpload at the documented 100 per minute.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::*;

#[test]
fn concurrency_eight_writers_with_readers_and_ls() {
    let per_writer = if long_tests() { 100 } else { 8 };
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--write-back=0.1"]);
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
    for _ in 0..2 {
        let (mnt, stop, reads) = (mnt.clone(), stop.clone(), reads.clone());
        side.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for e in std::fs::read_dir(&mnt).expect("readdir").flatten() {
                    if e.file_type().is_ok_and(|t| t.is_file()) {
                        // A file may be mid-write: any length, never an error.
                        std::fs::read(e.path()).expect("read while writers run");
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let mnt = mnt.clone();
            std::thread::spawn(move || {
                let mut srcs = Vec::new();
                for i in 0..per_writer {
                    let name = format!("w{w}-{i:03}.mp4");
                    let bytes =
                        random_bytes(4096 + (w * 131 + i * 17) % 60_000, (w * 1000 + i) as u64);
                    std::fs::write(mnt.join(&name), &bytes).expect("write");
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
    println!(
        "concurrency: 8 writers × {per_writer} files = {n} committed once in {:.1} s, with {} `ls -lR` \
         and {} whole-file reads alongside; no \"database is locked\"",
        t0.elapsed().as_secs_f64(),
        listings.load(Ordering::Relaxed),
        reads.load(Ordering::Relaxed)
    );
}
