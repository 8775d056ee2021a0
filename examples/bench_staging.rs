//! Staging benchmark: where should chunk bytes live, in SQLite blobs or in
//! files beside the database? Writes SIZE MiB sequentially in WRITE-byte
//! writes (what the kernel sends vodfs) both ways, makes the result durable
//! the way the cache does before a commit, and prints MiB/s.
//!
//! Usage: `cargo run --example bench_staging -- [DIR] [SIZE_MIB]`
//! (`scripts/bench-staging` runs it; figures go in `doc/staging-bench.md`).

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

const PART: usize = 1 << 20;

/// Bytes in one data file per content version, written with pwrite; one
/// fsync at the end (what `Cache::seal` does).
fn files(dir: &Path, total: usize, write: usize, buf: &[u8]) -> std::io::Result<Duration> {
    let path = dir.join("data.bin");
    let start = Instant::now();
    let f = std::fs::File::create(&path)?;
    let mut off = 0;
    while off < total {
        f.write_all_at(&buf[..write], off as u64)?;
        off += write;
    }
    f.sync_data()?;
    let t = start.elapsed();
    std::fs::remove_file(&path)?;
    Ok(t)
}

/// Bytes as one blob per part in SQLite (WAL, synchronous=NORMAL): writes
/// gather in a part buffer, each full part is inserted, 16 parts per
/// transaction; the last commit is FULL (durable). Returns the time to
/// durable, and the time including the WAL checkpoint that copies every
/// byte a second time into the database file.
fn blobs(
    dir: &Path,
    total: usize,
    write: usize,
    buf: &[u8],
) -> rusqlite::Result<(Duration, Duration)> {
    let path = dir.join("blobs.db");
    let _ = std::fs::remove_file(&path);
    let conn = Connection::open(&path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.execute_batch("CREATE TABLE chunks (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);")?;
    let start = Instant::now();
    let mut part = Vec::with_capacity(PART);
    let mut idx = 0i64;
    conn.execute_batch("BEGIN")?;
    let mut off = 0;
    while off < total {
        part.extend_from_slice(&buf[..write]);
        off += write;
        if part.len() >= PART || off >= total {
            conn.prepare_cached("INSERT INTO chunks (idx, data) VALUES (?1, ?2)")?
                .execute(params![idx, part])?;
            part.clear();
            idx += 1;
            if idx % 16 == 0 {
                conn.execute_batch("COMMIT; BEGIN")?;
            }
        }
    }
    conn.execute_batch("COMMIT")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch("BEGIN; CREATE TABLE done (x); COMMIT")?;
    let durable = start.elapsed();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    let all = start.elapsed();
    drop(conn);
    let _ = std::fs::remove_file(&path);
    Ok((durable, all))
}

fn mib_s(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / t.as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let mib: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let total = mib << 20;
    let dir = tempfile::Builder::new()
        .prefix("bench-staging")
        .tempdir_in(dir)?;
    let buf: Vec<u8> = (0..PART).map(|i| (i * 31 % 251) as u8).collect();
    println!("{mib} MiB sequential, in {}", dir.path().display());
    println!("| write size | files (pwrite + fsync) | blobs, durable | blobs incl. checkpoint |");
    println!("|---|---|---|---|");
    for write in [128 << 10, 1 << 20] {
        let f = files(dir.path(), total, write, &buf)?;
        let (b, b_all) = blobs(dir.path(), total, write, &buf)?;
        println!(
            "| {} KiB | {:.0} MiB/s ({:.2} s) | {:.0} MiB/s ({:.2} s) | {:.0} MiB/s ({:.2} s) |",
            write >> 10,
            mib_s(total, f),
            f.as_secs_f64(),
            mib_s(total, b),
            b.as_secs_f64(),
            mib_s(total, b_all),
            b_all.as_secs_f64()
        );
    }
    Ok(())
}
