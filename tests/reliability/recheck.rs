//! The upload trusts the part MD5s hashed while a file was written only
//! for a version the cache marked verified (its data synced after the
//! writes), or one sealed since the machine last started (a killed mount
//! loses nothing the kernel holds: it is synced, then trusted). A power
//! loss between a write-back close and its data sync can lose or change
//! staged bytes; such a version is hashed again from what the cache holds,
//! and commits exactly those bytes.
//!
//! A power loss cannot be produced in a test: the state it leaves is made
//! by hand after a kill -9 (the version's mark cleared and its boot made
//! another, bytes of one part changed in its data file).
//!
//! The mount runs with `--write-back=0` (parts hashed while written: with a
//! quiet time nothing is hashed before the commit, `fs::hashing`) behind a
//! proxy that resets every connection, so the files stay staged until the
//! test has made the state it needs.

use std::os::unix::fs::{FileExt, MetadataExt};
use std::time::{Duration, Instant};

use super::*;

/// The default part size, which api3 sessions use for files this small.
const PART: usize = 1 << 20;

fn db(m: &Mount) -> rusqlite::Connection {
    rusqlite::Connection::open(m.cache.join("cache.db")).expect("cache database")
}

/// (version, verified) of the current content of `ino`, if sealed.
fn version_of(m: &Mount, ino: u64) -> Option<(i64, bool)> {
    db(m)
        .query_row(
            "SELECT v.version, v.verified FROM inodes i
             JOIN versions v ON v.ino = i.ino AND v.version = i.version WHERE i.ino = ?1",
            [ino as i64],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)),
        )
        .ok()
}

/// `parts_hashed` of the "upload committed" line of `name` in the log.
fn parts_hashed(log: &str, name: &str) -> Option<u64> {
    let file = format!("file=/{name} ");
    log.lines()
        .filter(|l| l.contains("upload committed") && l.contains(&file))
        .find_map(|l| {
            l.split("parts_hashed=")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
}

#[test]
fn a_power_loss_before_the_data_sync_rehashes_the_version_and_commits_the_cached_bytes() {
    let svc = Service::start();
    let proxy = Proxy::start(&svc.addr);
    let mut m = Mount::with_endpoint(&proxy.url, &["--write-back=0"], &[]);
    proxy.set_mode(Mode::Reset);
    let synced = Source {
        name: "synced.mp4".into(),
        bytes: random_bytes(3 * PART + 1000, 61),
    };
    let mut lost = Source {
        name: "lost.mp4".into(),
        bytes: random_bytes(3 * PART + 2000, 62),
    };
    let killed = Source {
        name: "killed.mp4".into(),
        bytes: random_bytes(2 * PART + 3000, 63),
    };
    let mut inos = Vec::new();
    for s in [&synced, &lost, &killed] {
        std::fs::write(m.path(&s.name), &s.bytes).expect("write");
        inos.push(std::fs::metadata(m.path(&s.name)).expect("stat").ino());
    }
    // Both closes were followed by their data sync and mark.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !inos
        .iter()
        .all(|ino| version_of(&m, *ino).is_some_and(|(_, v)| v))
    {
        assert!(Instant::now() < deadline, "versions never marked verified");
        std::thread::sleep(Duration::from_millis(50));
    }
    m.kill9();
    // What a power loss before `lost`'s sync leaves: no mark, and bytes of
    // its second part that are not what was written.
    let (version, _) = version_of(&m, inos[1]).expect("sealed");
    db(&m)
        .execute(
            "UPDATE versions SET verified = 0, sealed_boot = 'a boot before the power loss'
             WHERE ino = ?1 AND version = ?2",
            rusqlite::params![inos[1] as i64, version],
        )
        .expect("clear the mark");
    let data = m.cache.join("data").join(format!("{}-{version}", inos[1]));
    let damage = vec![0xA5u8; 4096];
    let at = PART + 1234;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .expect("data file")
        .write_all_at(&damage, at as u64)
        .expect("damage");
    lost.bytes[at..at + damage.len()].copy_from_slice(&damage);
    // What a kill -9 before `killed`'s sync leaves: no mark, same boot.
    db(&m)
        .execute(
            "UPDATE versions SET verified = 0 WHERE ino = ?1",
            [inos[2] as i64],
        )
        .expect("clear the mark");
    proxy.set_mode(Mode::Pass);
    m.start();
    let paths = [&synced, &lost, &killed].map(|s| m.path(&s.name));
    wait_all(&m, &paths);
    // Each committed once, with exactly the bytes the cache holds.
    assert_all_committed_once(&svc, &m.mountpoint, &[synced, lost, killed]);
    let log = m.log();
    let parts = 4;
    assert_eq!(
        parts_hashed(&log, "synced.mp4"),
        Some(0),
        "a verified version is sent without hashing its parts again"
    );
    assert_eq!(
        parts_hashed(&log, "killed.mp4"),
        Some(0),
        "a version sealed in this boot is synced and trusted after a kill -9"
    );
    let rehashed = parts_hashed(&log, "lost.mp4").expect("lost.mp4 committed line");
    assert!(
        rehashed >= parts,
        "the unverified version is hashed again from the cache: {rehashed} parts hashed"
    );
    assert!(
        log.lines().any(|l| l.contains("file=/lost.mp4")
            && l.contains("not synced before the machine restarted")),
        "the re-check is logged naming the file"
    );
}

#[test]
fn a_write_back_quiet_time_hashes_nothing_while_written_and_the_commit_hashes_the_staged_bytes() {
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--write-back=3600"]);
    let src = Source {
        name: "quiet.mp4".into(),
        bytes: random_bytes(3 * PART + 777, 64),
    };
    std::fs::write(m.path(&src.name), &src.bytes).expect("write");
    // fsync hurries a write-back commit (it would wait an hour otherwise).
    std::fs::File::open(m.path(&src.name))
        .and_then(|f| f.sync_all())
        .expect("fsync");
    wait_all(&m, &[m.path(&src.name)]);
    assert_all_committed_once(&svc, &m.mountpoint, std::slice::from_ref(&src));
    assert_eq!(
        parts_hashed(&m.log(), "quiet.mp4"),
        Some(4),
        "every part is hashed by the commit, from the staged bytes (a file \
         written in order and hashed while written would have none to hash)"
    );
}
